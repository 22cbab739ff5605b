import ArgumentParser
import MCDropout

/// `mcdropout-eval`: how good is the uncertainty? Evaluation, the seeds' experiments and the report.
@main
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcdropout-eval",
        abstract: "Evaluate MC-dropout uncertainty: calibration, OOD detection, selective prediction, experiments.",
        discussion: """
            scripts/evaluate.sh runs everything and regenerates docs/evaluation/ (JSON, SVG plots, EVALUATION.md).
            """,
        version: mcdropoutVersion,
        subcommands: [
            EvaluateCommand.self, ExperimentCommand.self, ReportCommand.self, SetThresholdCommand.self, FitRuleCommand.self,
            ShiftCommand.self, RefreshMetricsCommand.self,
        ],
        defaultSubcommand: EvaluateCommand.self)
}

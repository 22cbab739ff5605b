import ArgumentParser
import Foundation
import MCDropout

/// `mcdropout-eval`: how good is the uncertainty? A thin command line over the `MCDropoutEvaluation` library.
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
            EvaluateCommand.self, ExperimentCommand.self, ReportCommand.self, SetThresholdCommand.self,
            FitRuleCommand.self,
            ShiftCommand.self, RefreshMetricsCommand.self, CombineCommand.self, RegressionCommand.self,
            SetTransformCommand.self,
        ],
        defaultSubcommand: EvaluateCommand.self)
}

/// Progress to standard error, so standard output stays clean.
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

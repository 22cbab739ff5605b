import ArgumentParser
import MCDropoutEvaluation

/// `mcdropout-eval report`: SVG figures and EVALUATION.md from the JSON results in a directory.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Draw the SVG figures and write EVALUATION.md from the JSON results in --directory.")

    @Option(help: "Directory holding <dataset>.json and experiments/*.json; figures and EVALUATION.md go here too.")
    var directory: String = "docs/evaluation"
    @Option(help: "Evaluation results to include, comma-separated names of <name>.json.")
    var datasets: String = "mnist,fashion-mnist"
    @Option(help: "The command that regenerates the report, quoted in its header.")
    var command: String = "scripts/evaluate.sh"
    @Option(help: "A description of the machine, quoted in the header.")
    var machine: String = ""
    @Option(help: "Extra Markdown appended after the generated sections (a file path), e.g. notes on what was tried.")
    var notes: String?

    func run() throws {
        let writer = ReportWriter(
            directory: directory, names: datasets.split(separator: ",").map(String.init), command: command,
            machine: machine, notes: notes)
        for name in try writer.write() { log("skipping \(name): \(directory)/\(name).json not found") }
        log("wrote \(directory)/EVALUATION.md")
    }
}

import Foundation
import MCDropout
import MCDropoutData
import MCDropoutEvaluation
import MCDropoutJSON
import TestSupport
import Testing

/// `fit-rule`, `shift` and `refresh-metrics`, run as the built executable on the tiny model and data files.
@Suite("mcdropout-eval density subcommands on a tiny model")
struct DensityCommandTests {
    func eval(_ arguments: [String]) throws -> (status: Int32, error: String) {
        let child = try ChildProcess(EvalCommandTests.executable, arguments)
        #expect(child.exits(within: .seconds(120)))
        return (child.status, child.standardError)
    }

    @Test("fit-rule stores density statistics and a rule within the budget; shift and refresh-metrics read the result")
    func fitShiftRefresh() throws {
        let fixture = try TinyEvaluationFixture(trainCount: 300)
        defer { fixture.remove() }
        let fitted = fixture.directory.appendingPathComponent("fitted.safetensors").path
        let fit = try eval([
            "fit-rule", "--model", fixture.modelPath, "--output", fitted, "--data-dir", fixture.dataDirectory,
            "--validation-count", "100", "--rank", "4", "--feature-layer", "1", "--budget", "0.1", "--samples", "10",
            "--rule-density-scores", "reconstruction_error,feature_distance",
        ])
        #expect(fit.status == 0, "\(fit.error)")
        let file = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: fitted))))
        #expect(file.model == TinyEvaluationFixture.model)
        #expect(file.density?.subspace?.rank == 4)
        #expect(file.density?.gaussian?.layer == 1)
        #expect(file.density?.trainingCount == 200)
        let rule = try #require(try file.uncertaintyRule())
        #expect(rule.conditions.count == 3)
        #expect(rule.cleanFlagBudget == 0.1 && rule.sampleCount == 10)
        // The stored share is what the rule flags on the validation split (the last 100 training images), ≤ budget.
        let training = try DatasetLoader.load(directory: fixture.dataDirectory, split: .train, classCount: 3)
        let validation = ScoredPredictions.evaluate(
            model: file.model, density: file.density, pixels: training.subset(200..<300).pixels,
            input: InputPreparation(scale: 255), sampleCount: 10, firstSeed: 2026)
        let flagged = Double(validation.flagged(by: rule).filter { $0 }.count) / 100
        #expect(flagged == rule.validationFlagged)
        #expect(flagged <= 0.1)

        let output = fixture.directory.appendingPathComponent("shift").path
        let shiftArguments = [
            "shift", "--model", fitted, "--ood-dataset", "noise", "--limit", "30", "--samples", "5", "--rotation-step",
            "90",
        ]
        let shift = try eval(
            shiftArguments + [
                "--data-dir", fixture.dataDirectory, "--ood-data-dir", fixture.oodDirectory, "--output-dir", output,
            ])
        #expect(shift.status == 0, "\(shift.error)")
        // The older spelling (the directory holding both sets) still runs, to the same results (timings aside).
        let olderOutput = fixture.directory.appendingPathComponent("shift-data-root").path
        let older = try eval(
            shiftArguments + [
                "--data-root", fixture.directory.appendingPathComponent("data").path, "--output-dir", olderOutput,
            ])
        #expect(older.status == 0, "\(older.error)")
        let results = try [olderOutput, output].map { directory in
            try JSONDecoder().decode(
                ShiftBenchmark.Report.self,
                from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/shift-tiny.json"))
            ).modes.map { ($0.sets, $0.detection) }
        }
        #expect(results[0].elementsEqual(results[1]) { $0.0 == $1.0 && $0.1 == $1.1 })
        let report = try JSONDecoder().decode(
            ShiftBenchmark.Report.self, from: Data(contentsOf: URL(fileURLWithPath: "\(output)/shift-tiny.json")))
        let sets = try #require(report.modes.last?.sets)
        #expect(
            sets.map(\.name) == [
                "rotated 0°", "rotated 90°", "rotated 180°", "moved 2 px", "moved 4 px", "faint ink ×0.5",
                "bold strokes",
                "blurred 3×3", "gaussian noise σ 0.1", "noise", "uniform noise",
            ])
        #expect(sets.filter { !$0.isOutOfDistribution }.allSatisfy { $0.accuracy != nil })
        #expect(sets.allSatisfy { $0.images == 30 && $0.flagged != nil })
        let detection = report.modes.last!.detection.first {
            $0.outOfDistribution == "noise" && $0.score == "reconstruction_error"
        }
        #expect((detection?.areaUnderROC ?? 0) > 0.9, "noise is far from the tiny images' 4-dimensional subspace")
        let markdown = try String(contentsOfFile: "\(output)/shift-tiny.md", encoding: .utf8)
        #expect(markdown.contains("| uniform noise |"))
        #expect(FileManager.default.fileExists(atPath: "\(output)/shift-tiny.svg"))

        let refresh = try eval([
            "refresh-metrics", "--model", fitted, "--output", fitted, "--data-dir", fixture.dataDirectory,
        ])
        #expect(refresh.status == 0, "\(refresh.error)")
        let refreshed = try ModelFile(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: fitted))))
        #expect(refreshed.model == file.model && refreshed.density == file.density)
        let check = Evaluator.monteCarlo(
            file.model, on: try DatasetLoader.load(directory: fixture.dataDirectory, split: .test, classCount: 3),
            input: InputPreparation(scale: 255), sampleCount: 100, seed: 1)
        #expect(refreshed.metadata.metrics["monte_carlo_check"]?["accuracy"]?.doubleValue == check.accuracy)
        #expect(refreshed.metadata.metrics["monte_carlo"]?["samples"]?.intValue == 100)
    }

    @Test("fit-rule --rotation-angles that are not numbers: the message shows the expected list of degrees")
    func rotationAnglesMessage() throws {
        let fixture = try TinyEvaluationFixture()
        defer { fixture.remove() }
        let output = fixture.directory.appendingPathComponent("out.safetensors").path
        for value in ["abc", "-40;40", "20,forty"] {
            let result = try eval([
                "fit-rule", "--model", fixture.modelPath, "--output", output, "--data-dir", fixture.dataDirectory,
                "--rotation-angles=\(value)",
            ])
            #expect(result.status != 0, "\(value)")
            #expect(result.error.contains("comma-separated list of degrees such as -40,-20,20,40"), "\(result.error)")
            #expect(result.error.contains("'\(value)'"), "\(result.error)")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }
}

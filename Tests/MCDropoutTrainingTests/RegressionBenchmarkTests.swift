import MCDropout
import MCDropoutEvaluation
import Testing

@testable import MCDropoutTraining

@Suite("Regression benchmark: both heads on seeded splits, beside a reference")
struct RegressionBenchmarkTests {
    /// y = 3·x0 − 2·x1 + noise, noise σ = 1 (x uniform in [0, 4), unnormalised).
    static func table(rows: Int, seed: UInt64) -> TabularDataset {
        var generator = RandomSource(seed: seed)
        var features: [Float] = []
        var targets: [Float] = []
        for _ in 0..<rows {
            let x0 = generator.nextUnitFloat() * 4
            let x1 = generator.nextUnitFloat() * 4
            features += [x0, x1]
            targets.append(3 * x0 - 2 * x1 + Float(generator.nextStandardNormal()))
        }
        return TabularDataset(featureNames: ["x0", "x1"], features: features, targets: targets, classNames: [])
    }

    @Test("the heteroscedastic head covers near nominal, the mean head undercovers; the reference sees the split")
    func benchmark() throws {
        let data = Self.table(rows: 500, seed: 3)
        var configuration = TabularTrainingConfiguration(hiddenSizes: [16], dropoutProbabilities: [0, 0.1])
        configuration.epochs = 100
        configuration.batchSize = 16
        configuration.learningRate = 0.01
        let benchmark = RegressionBenchmark(
            configuration: configuration, sampleCount: 30, testFraction: 0.4, splitSeeds: [1, 2])
        var calls: [(Int, Int, OutputHead, UInt64)] = []
        // A reference that knows the truth: mean 3·x0 − 2·x1 and the noise variance 1.
        let oracle: RegressionBenchmark.Reference = { training, test, run, samples in
            #expect(samples == 30 && run.hiddenSizes == [16] && run.epochs == 100)
            calls.append((training.count, test.count, run.head, run.seed))
            let means = (0..<test.count).map { Double(3 * test.features[2 * $0] - 2 * test.features[2 * $0 + 1]) }
            return RegressionPredictions(
                means: means, epistemicVariances: means.map { _ in 0 }, aleatoricVariances: means.map { _ in 1 })
        }
        let report = try benchmark.run(
            on: data, dataset: "toy", target: "y", reference: oracle, referenceNote: "oracle")
        #expect(calls.map(\.0) == [300, 300, 300, 300] && calls.map(\.1) == [200, 200, 200, 200])
        #expect(calls.map(\.2) == [.regression, .meanLogVariance, .regression, .meanLogVariance])
        #expect(calls.map(\.3) == [1, 1, 2, 2])
        #expect(report.entries.count == 8 && report.hasReference)

        // The same split for both implementations: the oracle's RMSE is the noise's, about 1.
        let oracleRMSE = report.summary(head: "mean", implementation: "pytorch", \.rootMeanSquaredError)!.mean
        #expect(oracleRMSE > 0.85 && oracleRMSE < 1.15)
        for head in ["mean", "mean_logvar"] {
            let rmse = report.summary(head: head, implementation: "mcdropout", \.rootMeanSquaredError)!.mean
            #expect(rmse < 1.4, "\(head) RMSE \(rmse)")  // the target's own spread is about 4.2
        }
        let meanOnly = report.summary(head: "mean", implementation: "mcdropout", \.coverage90)!.mean
        let heteroscedastic = report.summary(head: "mean_logvar", implementation: "mcdropout", \.coverage90)!.mean
        #expect(meanOnly < 0.75, "epistemic-only intervals are too narrow for noise σ = 1: \(meanOnly)")
        #expect(abs(heteroscedastic - 0.9) < 0.07, "aleatoric variance restores coverage: \(heteroscedastic)")
        let ll = report.summary(head: "mean_logvar", implementation: "mcdropout", \.logLikelihood)!.mean
        let llMean = report.summary(head: "mean", implementation: "mcdropout", \.logLikelihood)!.mean
        #expect(ll > llMean && ll > -1.9, "log-likelihood \(ll) vs the noise's −1.42")

        // Same seeds, same report.
        let again = try benchmark.run(on: data, dataset: "toy", target: "y", reference: nil, referenceNote: "none")
        #expect(again.entries == report.entries.filter { $0.implementation == "mcdropout" })
        #expect(!again.hasReference)
    }

    @Test("a table written as CSV parses back to the same values")
    func csvRoundTrip() throws {
        let data = Self.table(rows: 20, seed: 5)
        let parsed = try TabularDataset(csv: data.csv(target: "y"), target: "y", isClassification: false)
        #expect(parsed == data)
    }
}

import Foundation
import MCDropout
import MCDropoutEvaluation
import Testing

@Suite("Regression metrics: RMSE, Gaussian log-likelihood, interval coverage")
struct RegressionMetricsTests {
    @Test("three rows worked by hand")
    func byHand() {
        // Errors 0, 1 and −2 (target − mean) under N(mean, 1): |e| ≤ 0.674 for the first row only, ≤ 1.645 and
        // ≤ 1.960 for the first two.
        let metrics = RegressionMetrics(targets: [0, 1, -2], means: [0, 0, 0], variances: [1, 1, 1])
        #expect(metrics.count == 3)
        #expect(abs(metrics.rootMeanSquaredError - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(abs(metrics.logLikelihood - (-0.5 * log(2 * Double.pi) - 0.5 * 5 / 3)) < 1e-12)
        let third: Double = 1.0 / 3
        #expect(metrics.coverages == [third, 2 * third, 2 * third])
        // Variance 4 widens every interval by 2: all three rows inside the 90 % interval (|−2| ≤ 3.29).
        let wider = RegressionMetrics(targets: [0, 1, -2], means: [0, 0, 0], variances: [4, 4, 4])
        #expect(wider.coverages == [2 * third, 1, 1])
        #expect(abs(wider.logLikelihood - (-0.5 * log(8 * Double.pi) - 0.5 * 5 / 12)) < 1e-12)
    }

    @Test("the predictive variance adds the aleatoric part to the epistemic one")
    func predictiveVariance() {
        let predictions = RegressionPredictions(
            means: [1, 2], epistemicVariances: [0.5, 0.25], aleatoricVariances: [1.5, 0])
        #expect(predictions.predictiveVariances == [2, 0.25])
        let metrics = RegressionMetrics(targets: [1, 3], predictions: predictions)
        let expected = RegressionMetrics(targets: [1, 3], means: [1, 2], variances: [2, 0.25])
        #expect(metrics == expected)
    }

    @Test("a calibrated Gaussian covers 50/90/95 % and scores −½ ln(2πeσ²) on average")
    func calibrated() {
        var generator = RandomSource(seed: 11)
        var targets: [Double] = []
        var means: [Double] = []
        var variances: [Double] = []
        for row in 0..<40_000 {
            let sigma = 0.5 + Double(row % 4)  // heteroscedastic: σ 0.5 … 3.5
            let mean = Double(generator.nextUnitFloat()) * 10
            means.append(mean)
            variances.append(sigma * sigma)
            targets.append(mean + sigma * generator.nextStandardNormal())
        }
        let metrics = RegressionMetrics(targets: targets, means: means, variances: variances)
        for (coverage, interval) in zip(metrics.coverages, RegressionMetrics.intervals) {
            // Binomial standard error at n = 40 000 is at most 0.25 points; allow 4 of them.
            #expect(abs(coverage - interval.level) < 0.01, "\(interval.level): \(coverage)")
        }
        let expected = variances.map { -0.5 * log(2 * Double.pi * M_E * $0) }.reduce(0, +) / Double(variances.count)
        #expect(abs(metrics.logLikelihood - expected) < 0.02)
        // An overconfident prediction (σ halved) undercovers and loses likelihood.
        let overconfident = RegressionMetrics(targets: targets, means: means, variances: variances.map { $0 / 4 })
        #expect(overconfident.coverage90 < 0.65 && overconfident.logLikelihood < metrics.logLikelihood - 0.5)
    }

    @Test("zero spread: an exact prediction stays finite, a wrong one is very unlikely")
    func varianceFloor() {
        let exact = RegressionMetrics(targets: [2], means: [2], variances: [0])
        #expect(exact.logLikelihood.isFinite && exact.coverages == [1, 1, 1])
        let wrong = RegressionMetrics(targets: [2], means: [3], variances: [0])
        #expect(wrong.logLikelihood < -1e9 && wrong.coverages == [0, 0, 0])
    }

    @Test("predictions from a network: dropout off gives the forward pass and zero epistemic variance")
    func fromNetwork() throws {
        // 2-3-2 identity-ish network with a mean_logvar head: mean = x0 + x1 + 1, log σ² = ln 4.
        let hidden = Dense(weight: Matrix(rows: 3, columns: 2, storage: [1, 0, 0, 1, 0, 0]), bias: [0, 0, 0])
        let output = Dense(
            weight: Matrix(rows: 2, columns: 3, storage: [1, 1, 0, 0, 0, 0]), bias: [1, Float(log(4.0))])
        let model = DropoutMLP(layers: [hidden, output], dropoutProbabilities: [0, 0], activation: .relu)
        var metadata = ModelMetadata(
            layerSizes: [2, 3, 2], dropoutProbabilities: [0, 0], labels: [], dataset: "t", seed: 1, inputScale: 1)
        metadata.head = .meanLogVariance
        metadata.inputMean = [10, 0]
        metadata.inputStd = [2, 1]
        // Raw rows (12, 3) and (14, 1) normalise to (1, 3) and (2, 1).
        let predictions = RegressionPredictions(
            model: model, metadata: metadata, features: [12, 3, 14, 1], sampleCount: 8, seed: 1)
        #expect(predictions.means.count == 2)
        #expect(abs(predictions.means[0] - 5) < 1e-5 && abs(predictions.means[1] - 4) < 1e-5)
        #expect(predictions.epistemicVariances.allSatisfy { abs($0) < 1e-9 })
        #expect(predictions.aleatoricVariances.allSatisfy { abs($0 - 4) < 1e-4 })

        // With dropout on the hidden layer the passes differ: a positive epistemic variance, same seed same numbers.
        let noisy = DropoutMLP(layers: [hidden, output], dropoutProbabilities: [0, 0.5], activation: .relu)
        var noisyMetadata = metadata
        noisyMetadata.dropoutProbabilities = [0, 0.5]
        let first = RegressionPredictions(
            model: noisy, metadata: noisyMetadata, features: [12, 3, 14, 1], sampleCount: 50, seed: 4)
        let second = RegressionPredictions(
            model: noisy, metadata: noisyMetadata, features: [12, 3, 14, 1], sampleCount: 50, seed: 4)
        #expect(first == second)
        #expect(first.epistemicVariances.allSatisfy { $0 > 0.1 })
    }

    @Test("the report summarises splits as mean ± standard error and says when the reference did not run")
    func report() {
        let setup = RegressionReport.Setup(
            dataset: "toy", target: "y", rows: 10, features: 2, testFraction: 0.2, splitSeeds: [1, 2], hidden: [4],
            dropout: [0, 0.1], activation: "relu", epochs: 3, batchSize: 2, learningRate: 0.01, weightDecay: 0,
            samples: 10)
        let a = RegressionMetrics(targets: [0, 1], means: [0, 0], variances: [1, 1])
        let b = RegressionMetrics(targets: [0, 3], means: [0, 0], variances: [1, 1])
        let report = RegressionReport(
            setup: setup,
            entries: [
                .init(head: "mean", implementation: "mcdropout", split: 0, metrics: a),
                .init(head: "mean", implementation: "mcdropout", split: 1, metrics: b),
            ], reference: "torch is not importable by python3", hasReference: false)
        let rmse = report.summary(head: "mean", implementation: "mcdropout", \.rootMeanSquaredError)!
        let values = [a.rootMeanSquaredError, b.rootMeanSquaredError]
        #expect(abs(rmse.mean - (values[0] + values[1]) / 2) < 1e-12)
        #expect(abs(rmse.standardError - abs(values[0] - values[1]) / 2) < 1e-12)
        #expect(report.summary(head: "mean", implementation: "pytorch", \.rootMeanSquaredError) == nil)
        let markdown = report.markdown(command: "mcdropout-eval regression --csv toy.csv --target y")
        #expect(markdown.contains("**PyTorch reference not run: torch is not importable by python3.**"))
        #expect(markdown.contains("| mean | mcdropout |") && !markdown.contains("| pytorch |"))
        // Coverage 90 % is 100 % on split a and 50 % on b: 15 points under nominal on average, so not met.
        #expect(markdown.contains("**not met**"))

        // With a reference on the same splits the log-likelihoods are compared pairwise: ours − PyTorch's per split.
        let worse = RegressionMetrics(targets: [0, 1], means: [0, 0], variances: [4, 4])
        var compared = report
        compared.hasReference = true
        compared.entries += [
            .init(head: "mean", implementation: "pytorch", split: 0, metrics: worse),
            .init(head: "mean", implementation: "pytorch", split: 1, metrics: worse),
        ]
        let paired = compared.pairedDifference(head: "mean", \.logLikelihood)!
        let differences = [a.logLikelihood - worse.logLikelihood, b.logLikelihood - worse.logLikelihood]
        #expect(abs(paired.mean - (differences[0] + differences[1]) / 2) < 1e-12)
        #expect(abs(paired.standardError - abs(differences[0] - differences[1]) / 2) < 1e-12)
        // Here ours is 0.49 lower on average but the two splits disagree by 2: lower by less than 2 standard errors.
        #expect(paired.mean < 0 && paired.mean > -2 * paired.standardError)
        #expect(compared.markdown(command: "c").contains("target no worse: **met within noise**"))
        #expect(compared.markdown(command: "c").contains("| mean | pytorch |"))
    }
}

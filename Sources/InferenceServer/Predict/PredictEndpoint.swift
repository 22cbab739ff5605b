import HTTPTransport
import MCDropout
import MCDropoutJSON

extension InferenceService {
    /// `POST /predict`: Monte-Carlo dropout on one input or a batch.
    ///
    /// The pixels, the scaled inputs, the summaries and the response bytes all live in the worker's reusable buffers.
    func predict(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let worker = self.worker
        let decoded = try PredictRequest(body: request.body, limits: limits, pixels: &worker.request)
        let model = try resolveModel(decoded.modelName, in: worker.models(from: registry))
        let setting = decoded.samples ?? .fixed(configuration.defaultSamples)
        let instanceCount = worker.request.counts.count
        let field = decoded.isBatch ? "instances" : worker.request.isFeatures ? "features" : "pixels"
        try checkInputKind(isFeatures: worker.request.isFeatures, model: model)
        try checkInputs(worker.request.counts, field: field, model: model)
        try checkTotalPasses(instances: instanceCount, samples: setting.maximumSamples)
        let seed = decoded.seed ?? worker.drawSeed()
        try decoded.uncertainty.check(against: model, prefix: "")
        let head = model.file.metadata.head
        let rule = decoded.uncertainty.resolved(stored: model.uncertaintyRule, head: head)
        let passes = run(model, samples: setting, seed: seed, rule: rule, worker: worker)
        if configuration.recordsDriftMetrics {
            model.drift.record(worker.summaries, density: worker.densityValues, count: instanceCount, rule: rule)
        }

        var writer = worker.writer
        worker.writer = JSONWriter(capacity: 0)
        writer.removeAll()
        writer.beginObject()
        writer.key("model")
        writer.string(model.name)
        writer.key("model_version")
        writer.integer(model.version)
        writer.key("samples")
        switch setting {
        case .fixed(let count): writer.integer(count)
        case .automatic: if decoded.isBatch { writer.string("auto") } else { writer.integer(passes) }
        }
        writer.key("seed")
        writer.integer(seed)
        if decoded.isBatch {
            writer.key("predictions")
            writer.beginArray()
        }
        for index in 0..<instanceCount {
            let summary = worker.summaries[index]
            if decoded.isBatch {
                writer.beginObject()
                if case .automatic = setting {
                    writer.key("samples")
                    writer.integer(summary.sampleCount)
                }
            }
            if head.isClassification {
                encode(summary, labels: model.labels, into: &writer)
            } else {
                writer.regression(summary)
            }
            writer.densityScores(worker.densityValues[index])
            if let rule { writer.uncertainty(summary, density: worker.densityValues[index], rule: rule) }
            if decoded.isBatch { writer.endObject() }
        }
        if decoded.isBatch { writer.endArray() }
        writer.endObject()
        metrics.passes.add(passes)
        let body = writer.bytes
        worker.writer = writer
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Scales the raw pixels in `worker.request` into the worker's input buffer and runs the predictor on every input
    /// (one batch call for a fixed `N`, one adaptive run per input otherwise), leaving the summaries in
    /// `worker.summaries`.
    ///
    /// The density scores of every input follow in `worker.densityValues` (all `.none` without statistics).
    ///
    /// - Parameter rule: the uncertainty rule the answer reports, whose verdict a settled-decision adaptive rule
    ///   must settle too (see ``AdaptiveSampling/settle(_:head:)``).
    /// - Returns: the passes run, over all inputs.
    @discardableResult
    func run(
        _ model: LoadedModel, samples: SampleSetting, seed: UInt64, rule: UncertaintyRule? = nil, worker: WorkerState
    ) -> Int {
        var samples = samples
        if case .automatic(var sampling) = samples, sampling.decision != nil {
            sampling.settle(rule, head: model.file.metadata.head)
            samples = .automatic(sampling)
        }
        let (passes, precomputed) = runPasses(model, samples: samples, seed: seed, rule: rule, worker: worker)
        scoreDensity(model, worker: worker, predictionFreeDone: precomputed)
        return passes
    }

    /// Fills `worker.densityValues` from the scaled inputs in `worker.pixels`.
    ///
    /// - Parameter predictionFreeDone: `worker.densityValues` already holds every input's prediction-free values
    ///   (computed before sampling); only the scores that need the served class are added.
    func scoreDensity(_ model: LoadedModel, worker: WorkerState, predictionFreeDone: Bool = false) {
        let instanceCount = worker.request.counts.count
        let width = model.inputSize
        guard let density = model.file.density else {
            worker.densityValues.removeAll(keepingCapacity: true)
            for _ in 0..<instanceCount { worker.densityValues.append(.none) }
            return
        }
        if !predictionFreeDone { worker.densityValues.removeAll(keepingCapacity: true) }
        worker.pixels.withUnsafeBufferPointer { pixels in
            for index in 0..<instanceCount {
                let input = UnsafeBufferPointer(rebasing: pixels[(index * width)..<((index + 1) * width)])
                // The served class is the rotation probe's reference (no extra forward pass of the input).
                let served =
                    index < worker.summaries.count && worker.summaries[index].head == .classification
                    ? worker.summaries[index].prediction : nil
                if predictionFreeDone {
                    density.addPredictionDependentValues(
                        to: &worker.densityValues[index], for: input, predictedClass: served,
                        workspace: &worker.densityWorkspace)
                } else {
                    worker.densityValues.append(
                        density.values(
                            for: input, model: model.file.model, predictedClass: served,
                            workspace: &worker.densityWorkspace))
                }
            }
        }
    }

    /// - Parameter rule: with `"auto"`, inputs this rule flags before sampling get more passes
    ///   (``AdaptiveSampling/forInput(_:rule:density:model:workspace:computed:)``).
    /// - Returns: the passes run, over all inputs, and whether `worker.densityValues` holds every input's
    ///   prediction-free density values (computed for that choice).
    private func runPasses(
        _ model: LoadedModel, samples: SampleSetting, seed: UInt64, rule: UncertaintyRule?, worker: WorkerState
    ) -> (passes: Int, densityDone: Bool) {
        let instanceCount = worker.request.counts.count
        let started = ContinuousClock.now
        defer { statistics.models[model.name]?.recordSuccess(inputs: instanceCount, since: started) }
        let width = model.inputSize
        worker.pixels.removeAll(keepingCapacity: true)
        model.file.metadata.appendNetworkInputs(worker.request.values, to: &worker.pixels)
        switch samples {
        case .fixed(let count) where instanceCount == 1 && configuration.splitsPasses:
            if worker.summaries.isEmpty { worker.summaries.append(.empty) }
            if worker.summaries.count > 1 { worker.summaries.removeLast(worker.summaries.count - 1) }
            let helped = worker.pixels.withUnsafeBufferPointer {
                model.predictor.predict(
                    $0, sampleCount: count, seed: seed, workspace: &worker.workspace, into: &worker.summaries[0],
                    helper: IdleWorkerHelper(), split: worker.split)
            }
            if helped { metrics.splitRequests.add(1) }
            return (count, false)
        case .fixed(let count):
            worker.pixels.withUnsafeBufferPointer {
                model.predictor.predictBatch(
                    $0, instanceCount: instanceCount, sampleCount: count, seed: seed, workspace: &worker.workspace,
                    into: &worker.summaries)
            }
            return (count * instanceCount, false)
        case .automatic(let sampling):
            if worker.summaries.count > instanceCount {
                worker.summaries.removeLast(worker.summaries.count - instanceCount)
            }
            while worker.summaries.count < instanceCount { worker.summaries.append(.empty) }
            var total = 0
            var densityDone = true
            worker.densityValues.removeAll(keepingCapacity: true)
            worker.pixels.withUnsafeBufferPointer { pixels in
                for index in 0..<instanceCount {
                    let input = UnsafeBufferPointer(rebasing: pixels[(index * width)..<((index + 1) * width)])
                    var computed: DensityValues?
                    let chosen = sampling.forInput(
                        input, rule: rule, density: model.file.density, model: model.file.model,
                        workspace: &worker.densityWorkspace, computed: &computed)
                    if let computed { worker.densityValues.append(computed) } else { densityDone = false }
                    model.predictor.predictAdaptive(
                        input, sampling: chosen, seed: seed, workspace: &worker.workspace,
                        into: &worker.summaries[index])
                    total += worker.summaries[index].sampleCount
                }
            }
            return (total, densityDone)
        }
    }

    /// Pixels (0–255) only for image models (those with `input.shape`); `features` for any model.
    func checkInputKind(isFeatures: Bool, model: LoadedModel) throws(HTTPError) {
        guard !isFeatures, model.file.metadata.inputShape == nil else { return }
        throw .badRequest(
            "model '\(model.name)' is not an image model; send 'features' (\(model.inputSize) numbers), not 'pixels'")
    }

    /// Every input must have the model's width.
    func checkInputs(_ counts: [Int], field: String, model: LoadedModel) throws(HTTPError) {
        for (index, count) in counts.enumerated() where count != model.inputSize {
            let name = counts.count == 1 && field != "instances" ? field : "\(field)[\(index)]"
            var expected = "\(model.inputSize)"
            if let shape = model.file.metadata.inputShape {
                expected += " (\(shape.map(String.init).joined(separator: "×")))"
            }
            throw .badRequest("'\(name)' has \(count) values; model '\(model.name)' expects \(expected)")
        }
    }

    /// Bounds the compute of one request.
    func checkTotalPasses(instances: Int, samples: Int) throws(HTTPError) {
        guard instances * samples <= configuration.maxTotalPasses else {
            throw .limitExceeded(
                "\(instances) inputs × \(samples) samples exceeds the limit of "
                    + "\(configuration.maxTotalPasses) passes per request"
            )
        }
    }

    /// Writes the per-input fields of a prediction.
    func encode(_ summary: PredictiveSummary, labels: [String], into writer: inout JSONWriter) {
        writer.key("prediction")
        writer.integer(summary.prediction)
        writer.key("label")
        writer.string(labels[summary.prediction])
        writer.key("probabilities")
        writer.beginArray()
        for value in summary.meanProbabilities { writer.number(value) }
        writer.endArray()
        writer.key("variance")
        writer.beginArray()
        for value in summary.variance { writer.number(value) }
        writer.endArray()
        writer.key("predictive_entropy")
        writer.number(summary.predictiveEntropy)
        writer.key("expected_entropy")
        writer.number(summary.expectedEntropy)
        writer.key("mutual_information")
        writer.number(summary.mutualInformation)
    }
}

extension JSONWriter {
    /// Writes a regression prediction: `mean` and `variance` (over passes, epistemic) per target and, for a
    /// `mean_logvar` head, `aleatoric_variance` (the mean σ²) and `predictive_variance` (their sum).
    mutating func regression(_ summary: PredictiveSummary) {
        let targets = summary.regressionTargetCount
        key("mean")
        beginArray()
        for index in 0..<targets { number(summary.regressionMean(index)) }
        endArray()
        key("variance")
        beginArray()
        for index in 0..<targets { number(summary.epistemicVariance(index)) }
        endArray()
        guard summary.head == .meanLogVariance else { return }
        key("aleatoric_variance")
        beginArray()
        for index in 0..<targets { number(summary.aleatoricVariance(index)) }
        endArray()
        key("predictive_variance")
        beginArray()
        for index in 0..<targets { number(summary.epistemicVariance(index) + summary.aleatoricVariance(index)) }
        endArray()
    }
}

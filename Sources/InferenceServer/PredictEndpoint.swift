import MCDropout
import MCDropoutJSON

extension InferenceService {
    /// `POST /predict`: Monte-Carlo dropout on one input or a batch.
    func predict(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let decoded = try PredictRequest(body: request.body, limits: limits)
        let worker = self.worker
        let model = try resolveModel(decoded.modelName, in: worker.models(from: registry))
        let samples = decoded.samples ?? configuration.defaultSamples
        try checkInputs(decoded.instances, field: decoded.isBatch ? "instances" : "pixels", model: model)
        try checkTotalPasses(instances: decoded.instances.count, samples: samples)
        let seed = decoded.seed ?? worker.drawSeed()

        var writer = worker.writer
        writer.removeAll()
        writer.beginObject()
        writer.key("model"); writer.string(model.name)
        writer.key("model_version"); writer.integer(model.version)
        writer.key("samples"); writer.integer(samples)
        writer.key("seed"); writer.integer(seed)
        if decoded.isBatch {
            writer.key("predictions")
            writer.beginArray()
        }
        for instance in decoded.instances {
            let summary = run(model, pixels: instance, samples: samples, seed: seed, worker: worker)
            if decoded.isBatch { writer.beginObject() }
            encode(summary, labels: model.labels, into: &writer)
            if decoded.isBatch { writer.endObject() }
        }
        if decoded.isBatch { writer.endArray() }
        writer.endObject()
        metrics.passes.add(samples * decoded.instances.count)
        let body = writer.bytes
        worker.writer = writer
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Scales raw pixels into the worker's buffer and runs the predictor with the worker's workspace.
    func run(_ model: LoadedModel, pixels: [Float], samples: Int, seed: UInt64, worker: WorkerState) -> PredictiveSummary {
        let scale = 1 / model.inputScale
        worker.pixels.removeAll(keepingCapacity: true)
        for value in pixels { worker.pixels.append(value * scale) }
        return worker.pixels.withUnsafeBufferPointer {
            model.predictor.predict($0, sampleCount: samples, seed: seed, workspace: &worker.workspace)
        }
    }

    /// Every input must have the model's width.
    func checkInputs(_ instances: [[Float]], field: String, model: LoadedModel) throws(HTTPError) {
        for (index, pixels) in instances.enumerated() where pixels.count != model.inputSize {
            let name = instances.count == 1 && field == "pixels" ? field : "\(field)[\(index)]"
            var expected = "\(model.inputSize)"
            if let shape = model.file.metadata.inputShape { expected += " (\(shape.map(String.init).joined(separator: "×")))" }
            throw .badRequest("'\(name)' has \(pixels.count) values; model '\(model.name)' expects \(expected)")
        }
    }

    /// Bounds the compute of one request.
    func checkTotalPasses(instances: Int, samples: Int) throws(HTTPError) {
        guard instances * samples <= configuration.maxTotalPasses else {
            throw .badRequest(
                "\(instances) inputs × \(samples) samples exceeds the limit of \(configuration.maxTotalPasses) passes per request")
        }
    }

    /// Writes the per-input fields of a prediction.
    func encode(_ summary: PredictiveSummary, labels: [String], into writer: inout JSONWriter) {
        writer.key("prediction"); writer.integer(summary.prediction)
        writer.key("label"); writer.string(labels[summary.prediction])
        writer.key("probabilities")
        writer.beginArray()
        for value in summary.meanProbabilities { writer.number(value) }
        writer.endArray()
        writer.key("variance")
        writer.beginArray()
        for value in summary.variance { writer.number(value) }
        writer.endArray()
        writer.key("predictive_entropy"); writer.number(summary.predictiveEntropy)
        writer.key("expected_entropy"); writer.number(summary.expectedEntropy)
        writer.key("mutual_information"); writer.number(summary.mutualInformation)
    }
}

extension MonteCarloPredictor {
    /// Computes each input's shared activations (the deterministic prefix) and clears the statistics.
    ///
    /// For a model without dropout the "shared activations" are the final logits.
    func prepare(_ inputs: UnsafeBufferPointer<Float>, instanceCount: Int, workspace: inout MonteCarloWorkspace) {
        let layers = model.layers
        let last = layers.count - 1
        let prefixEnd = min(firstStochasticLayer, layers.count)
        let sharedWidth = prefixEnd == 0 ? model.inputSize : layers[prefixEnd - 1].outputSize
        let scale = firstStochasticLayer < layers.count ? model.dropouts[firstStochasticLayer].keepScale : 1
        var widest = model.inputSize
        for index in 0..<prefixEnd { widest = max(widest, layers[index].outputSize) }
        workspace.prefix.ensureCount(widest)
        workspace.prefixNext.ensureCount(widest)
        workspace.shared.ensureCount(instanceCount * sharedWidth)
        workspace.deterministicEntropy.ensureCount(instanceCount)
        workspace.activeUnits.ensureCount(instanceCount * sharedWidth)
        workspace.activeValues.ensureCount(instanceCount * sharedWidth)
        workspace.activeCounts.ensureCount(instanceCount)
        workspace.activeWords.ensureCount(instanceCount * MaskStream.wordCount(units: sharedWidth))
        workspace.activeWordCounts.ensureCount(instanceCount)
        let statisticsWidth = 2 * model.outputSize + 2
        workspace.statistics.ensureCount(instanceCount * statisticsWidth)
        workspace.halfStatistics.ensureCount(instanceCount * statisticsWidth)
        workspace.instanceCount = instanceCount
        workspace.gatheredInstance = -1
        workspace.statistics.withUnsafeMutableBufferPointer { statistics in
            for index in 0..<(instanceCount * statisticsWidth) { statistics[index] = 0 }
        }
        workspace.halfStatistics.withUnsafeMutableBufferPointer { half in
            for index in 0..<(instanceCount * statisticsWidth) { half[index] = 0 }
        }

        for instance in 0..<instanceCount {
            workspace.prefix.withUnsafeMutableBufferPointer { current in
                workspace.prefixNext.withUnsafeMutableBufferPointer { next in
                    var x = current.baseAddress!
                    var y = next.baseAddress!
                    x.update(from: inputs.baseAddress! + instance * model.inputSize, count: model.inputSize)
                    for index in 0..<prefixEnd {
                        let layer = layers[index]
                        layer.bias.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: layer.outputSize) }
                        if index == 0, sparseFirstLayer(UnsafePointer(x), into: y) {
                            // Done from the non-zero inputs' weight rows alone.
                        } else {
                            layer.weight.storage.withUnsafeBufferPointer { w in
                                BLAS.gemv(
                                    transpose: false, m: layer.outputSize, n: layer.inputSize, alpha: 1,
                                    a: w.baseAddress!, lda: layer.inputSize, x: x, beta: 1, y: y)
                            }
                        }
                        if index < last {
                            model.activation.apply(UnsafeMutableBufferPointer(start: y, count: layer.outputSize))
                        }
                        swap(&x, &y)
                    }
                    workspace.shared.withUnsafeMutableBufferPointer { shared in
                        let destination = shared.baseAddress! + instance * sharedWidth
                        for column in 0..<sharedWidth { destination[column] = x[column] * scale }
                        if prefixEnd == layers.count {
                            // No dropout: keep the probabilities (or outputs) and their entropy for `addPasses`.
                            workspace.deterministicEntropy[instance] = head.finish(
                                UnsafeMutableBufferPointer(start: destination, count: sharedWidth))
                        }
                        workspace.activeCounts[instance] = -1
                        if usesActiveUnits && prefixEnd < layers.count {
                            workspace.activeUnits.withUnsafeMutableBufferPointer { units in
                                let list = units.baseAddress! + instance * sharedWidth
                                let words = instance * MaskStream.wordCount(units: sharedWidth)
                                var count = 0
                                var wordCount = 0
                                for column in 0..<sharedWidth where destination[column] != 0 {
                                    list[count] = Int32(truncatingIfNeeded: column)
                                    workspace.activeValues[instance * sharedWidth + count] = destination[column]
                                    count += 1
                                    // The mask words holding the active units, each once (units ascend).
                                    let word = Int32(truncatingIfNeeded: column >> 2)
                                    if wordCount == 0 || workspace.activeWords[words + wordCount - 1] != word {
                                        workspace.activeWords[words + wordCount] = word
                                        wordCount += 1
                                    }
                                }
                                if Double(count) <= Self.activeFraction * Double(sharedWidth) {
                                    workspace.activeCounts[instance] = count
                                    workspace.activeWordCounts[instance] = wordCount
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds the first layer's weights times `input` to `output` (which holds the bias) using only the rows of the
    /// non-zero inputs, when at most a quarter of the inputs are non-zero; returns `false` (and leaves `output`
    /// alone) otherwise.
    ///
    /// Digits and other images are mostly background: an MNIST digit has 100–200 non-zero pixels of 784. `sgemv`
    /// streams all `outputSize × inputSize` weights (1.6 MB for 784 × 512, more than L2 holds), which made the
    /// deterministic first layer the largest cost of a request at small `N`; skipping zero inputs reads a fifth of
    /// that. A zero input adds exactly zero, so the result is the same sum in another order (it differs from
    /// `sgemv`'s only by float rounding). Each row is one `saxpy` (OpenBLAS's AVX2 kernel; a Swift `SIMD8` loop,
    /// compiled for baseline x86-64, measured ~3 µs slower per request).
    func sparseFirstLayer(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) -> Bool {
        guard firstStochasticLayer > 0 else { return false }
        let inputSize = model.inputSize
        let outputSize = model.layers[0].outputSize
        var nonZero = 0
        for index in 0..<inputSize where input[index] != 0 { nonZero += 1 }
        guard nonZero * 4 <= inputSize else { return false }
        weightsByInput[0].withUnsafeBufferPointer { rows in
            for index in 0..<inputSize where input[index] != 0 {
                BLAS.axpy(count: outputSize, alpha: input[index], x: rows.baseAddress! + index * outputSize, y: output)
            }
        }
        return true
    }

    /// Adds `count` passes for every prepared instance, with the masks of `stream`.
    ///
    /// Pass `i` of this call is the request's pass `firstPass + i` (its masks are that pass's); passes before `splitAt`
    /// accumulate into `statistics`, the others into `halfStatistics` (see ``splitPoint(sampleCount:)``).
    func addPasses(
        _ count: Int, stream: MaskStream, workspace: inout MonteCarloWorkspace, firstPass: Int = 0,
        splitAt: Int = .max
    ) {
        let instances = workspace.instanceCount
        let classes = model.outputSize
        if firstStochasticLayer == model.layers.count {
            // No dropout anywhere: every pass is the deterministic prediction `prepare` computed.
            workspace.shared.withUnsafeBufferPointer { shared in
                workspace.statistics.withUnsafeMutableBufferPointer { statistics in
                    workspace.halfStatistics.withUnsafeMutableBufferPointer { half in
                        for instance in 0..<instances {
                            let probabilities = shared.baseAddress! + instance * classes
                            let entropy = workspace.deterministicEntropy[instance]
                            let row = statistics.baseAddress! + instance * (2 * classes + 2)
                            for pass in firstPass..<(firstPass + count) {
                                let target = pass < splitAt ? row : half.baseAddress! + instance * (2 * classes + 2)
                                accumulate(probabilities, classes: classes, entropy: entropy, into: target)
                            }
                        }
                    }
                }
            }
            return
        }
        ensureBlockBuffers(passes: min(count, Self.blockRows), workspace: &workspace)
        var done = 0
        while done < count {
            let block = min(Self.blockRows, count - done)
            workspace.maskWords.withUnsafeMutableBufferPointer { words in
                fillLaterMasks(words.baseAddress!, rows: block, firstPass: firstPass + done, stream: stream)
            }
            for instance in 0..<instances {
                gatherActiveWeights(instance: instance, workspace: &workspace)
                withPointers(&workspace, instance: instance) { prepared, buffers, statistics, half in
                    runRows(
                        prepared, rows: block, buffers: buffers, stream: stream, firstPass: firstPass + done,
                        splitAt: splitAt, statistics: statistics, halfStatistics: half)
                }
            }
            done += block
        }
    }

    /// Writes the mask words of every stochastic layer after the first of passes `firstPass ..< firstPass + rows` into
    /// a block's words (pass after pass, ``wordsPerPass`` each); they are shared by all inputs of a batch. The first
    /// stochastic layer's words depend on the input's active units and are written by ``runRows``.
    func fillLaterMasks(_ words: UnsafeMutablePointer<UInt64>, rows: Int, firstPass: Int, stream: MaskStream) {
        let first = firstStochasticLayer
        for index in (first + 1)..<max(first + 1, model.layers.count) where maskWordOffsets[index - first] >= 0 {
            let count = MaskStream.wordCount(units: model.layers[index].inputSize)
            for row in 0..<rows {
                stream.fill(
                    words + row * wordsPerPass + maskWordOffsets[index - first], count: count, pass: firstPass + row,
                    layer: index)
            }
        }
    }

    /// Grows the workspace's block buffers to hold `passes` passes.
    func ensureBlockBuffers(passes: Int, workspace: inout MonteCarloWorkspace) {
        workspace.passes.ensureCount(passes * stochasticWidth)
        workspace.passesNext.ensureCount(passes * stochasticWidth)
        workspace.maskWords.ensureCount(passes * wordsPerPass)
        if usesActiveUnits {
            let layer = model.layers[firstStochasticLayer]
            let mostActive = Int(Self.activeFraction * Double(layer.inputSize))
            workspace.activeWeights.ensureCount(max(mostActive, 1) * layer.outputSize)
        }
    }

    /// Runs `body` with prepared instance `instance` of `workspace`, its block buffers and the instance's two
    /// statistics rows.
    func withPointers<R>(
        _ workspace: inout MonteCarloWorkspace, instance: Int,
        _ body: (PreparedInstance, BlockBuffers, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> R
    ) -> R {
        let sharedWidth = model.layers[firstStochasticLayer].inputSize
        let statisticsWidth = 2 * model.outputSize + 2
        let activeCount = workspace.activeCounts[instance]
        let wordCount = activeCount < 0 ? 0 : workspace.activeWordCounts[instance]
        let wordsWidth = MaskStream.wordCount(units: sharedWidth)
        return workspace.shared.withUnsafeBufferPointer { shared in
            workspace.activeUnits.withUnsafeBufferPointer { units in
                workspace.activeValues.withUnsafeBufferPointer { values in
                    workspace.activeWords.withUnsafeBufferPointer { activeWords in
                        workspace.activeWeights.withUnsafeBufferPointer { weights in
                            let prepared = PreparedInstance(
                                shared: shared.baseAddress! + instance * sharedWidth,
                                units: units.baseAddress! + instance * sharedWidth,
                                values: values.baseAddress! + instance * sharedWidth, activeCount: activeCount,
                                activeWords: activeWords.baseAddress! + instance * wordsWidth,
                                activeWordCount: wordCount, activeWeights: weights.baseAddress)
                            return workspace.maskWords.withUnsafeMutableBufferPointer { words in
                                workspace.passes.withUnsafeMutableBufferPointer { passes in
                                    workspace.passesNext.withUnsafeMutableBufferPointer { next in
                                        workspace.statistics.withUnsafeMutableBufferPointer { statistics in
                                            workspace.halfStatistics.withUnsafeMutableBufferPointer { half in
                                                body(
                                                    prepared,
                                                    BlockBuffers(
                                                        words: words.baseAddress!, passes: passes.baseAddress!,
                                                        next: next.baseAddress!),
                                                    statistics.baseAddress! + instance * statisticsWidth,
                                                    half.baseAddress! + instance * statisticsWidth)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs the stochastic layers on `rows` passes (the request's passes `firstPass ..< firstPass + rows`) of one
    /// prepared instance, and accumulates each pass's statistics into `statistics` (pass `firstPass + row < splitAt`)
    /// or `halfStatistics`.
    ///
    /// `buffers.words` holds the later layers' mask words of these passes (``fillLaterMasks(_:rows:firstPass:stream:)``);
    /// this writes the first stochastic layer's: the words holding the active units, or all of them (dense path).
    func runRows(
        _ prepared: PreparedInstance, rows passCount: Int, buffers: BlockBuffers, stream: MaskStream, firstPass: Int,
        splitAt: Int, statistics: UnsafeMutablePointer<Double>, halfStatistics: UnsafeMutablePointer<Double>
    ) {
        let layers = model.layers
        let rows = passCount
        let first = firstStochasticLayer
        let sharedWidth = layers[first].inputSize
        let classes = model.outputSize
        let wordsPerPass = self.wordsPerPass
        let words = buffers.words
        var input = buffers.passes
        var output = buffers.next
        let activeCount = prepared.activeCount
        let dropout = model.dropouts[first]
        let source = prepared.shared
        if activeCount >= 0 {
            // The active units' masked values, compacted: an `N × k` pass matrix.
            for pass in 0..<passCount {
                let mask = words + pass * wordsPerPass + maskWordOffsets[0]
                stream.fill(
                    mask, indices: prepared.activeWords, count: prepared.activeWordCount, pass: firstPass + pass,
                    layer: first)
                MaskKernels.selectActive(
                    prepared.values, units: prepared.units, into: input + pass * activeCount, count: activeCount,
                    mask: mask,
                    dropout: dropout)
            }
        } else {
            // Masked broadcast of the (pre-scaled) shared activations straight into the pass matrix.
            let wordCount = MaskStream.wordCount(units: sharedWidth)
            for pass in 0..<passCount {
                let row = input + pass * sharedWidth
                let mask = words + pass * wordsPerPass + maskWordOffsets[0]
                stream.fill(mask, count: wordCount, pass: firstPass + pass, layer: first)
                MaskKernels.select(source, into: row, count: sharedWidth, mask: mask, dropout: dropout)
            }
        }
        for index in first..<layers.count {
            let layer = layers[index]
            if index == first && activeCount >= 0 {
                multiplyActive(
                    input, rows: rows, activeCount: activeCount, weights: prepared.activeWeights,
                    outputSize: layer.outputSize, into: output)
            } else {
                weightsByInput[index].withUnsafeBufferPointer { w in
                    BLAS.gemm(
                        transposeA: false, transposeB: false, m: rows, n: layer.outputSize, k: layer.inputSize,
                        alpha: 1, a: input, lda: layer.inputSize, b: w.baseAddress!, ldb: layer.outputSize, beta: 0,
                        c: output, ldc: layer.outputSize)
                }
            }
            if index == layers.count - 1 { break }
            // Bias, ReLU and the next layer's dropout in one sweep, in place.
            let next = index + 1
            let nextDropout = model.dropouts[next]
            let offset = maskWordOffsets[next - first]
            let activation = model.activation
            layer.bias.withUnsafeBufferPointer { bias in
                for row in 0..<rows {
                    let values = output + row * layer.outputSize
                    if !activation.isReLU {
                        MaskKernels.biasActivateSelect(
                            values, bias: bias.baseAddress!, count: layer.outputSize, activation: activation,
                            mask: offset < 0 ? nil : words + row * wordsPerPass + offset, dropout: nextDropout)
                    } else if offset < 0 {
                        MaskKernels.biasReLU(values, bias: bias.baseAddress!, count: layer.outputSize)
                    } else {
                        let mask = words + row * wordsPerPass + offset
                        MaskKernels.biasReLUSelect(
                            values, bias: bias.baseAddress!, count: layer.outputSize, mask: mask, dropout: nextDropout)
                    }
                }
            }
            swap(&input, &output)
        }
        // `output` holds the logits without bias: add it, finish (softmax) and accumulate, per row.
        layers[layers.count - 1].bias.withUnsafeBufferPointer { bias in
            for pass in 0..<passCount {
                let logits = output + pass * classes
                for column in 0..<classes { logits[column] += bias[column] }
                let entropy = head.finish(UnsafeMutableBufferPointer(start: logits, count: classes))
                let target = firstPass + pass < splitAt ? statistics : halfStatistics
                accumulate(UnsafePointer(logits), classes: classes, entropy: entropy, into: target)
            }
        }
    }

    /// Gathers the first stochastic layer's weight rows of `instance`'s active units into the workspace (nothing
    /// for an instance on the dense path, nor when they are there already since `prepare`).
    func gatherActiveWeights(instance: Int, workspace: inout MonteCarloWorkspace) {
        let activeCount = workspace.activeCounts[instance]
        guard activeCount >= 0, workspace.gatheredInstance != instance else { return }
        workspace.gatheredInstance = instance
        let sharedWidth = model.layers[firstStochasticLayer].inputSize
        workspace.activeUnits.withUnsafeBufferPointer { units in
            gatherActiveWeights(
                units.baseAddress! + instance * sharedWidth, count: activeCount, into: &workspace.activeWeights)
        }
    }

    /// Copies the first stochastic layer's weight rows (input-major) of the `count` units in `units` one after
    /// another into `destination`.
    func gatherActiveWeights(_ units: UnsafePointer<Int32>, count: Int, into destination: inout [Float]) {
        let width = model.layers[firstStochasticLayer].outputSize
        weightsByInput[firstStochasticLayer].withUnsafeBufferPointer { rows in
            destination.withUnsafeMutableBufferPointer { target in
                for index in 0..<count {
                    (target.baseAddress! + index * width).update(
                        from: rows.baseAddress! + Int(units[index]) * width, count: width)
                }
            }
        }
    }

    /// `output = passes × weights` for the `rows × activeCount` compacted pass matrix and the gathered
    /// `activeCount × outputSize` weight rows; all zero when no unit is active.
    private func multiplyActive(
        _ passes: UnsafePointer<Float>, rows: Int, activeCount: Int, weights: UnsafePointer<Float>?, outputSize: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        guard activeCount > 0 else {
            output.update(repeating: 0, count: rows * outputSize)
            return
        }
        BLAS.gemm(
            transposeA: false, transposeB: false, m: rows, n: outputSize, k: activeCount, alpha: 1, a: passes,
            lda: activeCount, b: weights!, ldb: outputSize, beta: 0, c: output, ldc: outputSize)
    }
}

/// Adds one pass's probabilities to a statistics row: `C` sums, `C` sums of squares, the entropy sum, the count.
@inline(__always)
func accumulate(
    _ probabilities: UnsafePointer<Float>, classes: Int, entropy: Double, into row: UnsafeMutablePointer<Double>
) {
    for index in 0..<classes {
        let p = Double(probabilities[index])
        row[index] += p
        row[classes + index] += p * p
    }
    row[2 * classes] += entropy
    row[2 * classes + 1] += 1
}

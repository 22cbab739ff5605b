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
        let statisticsWidth = 2 * model.outputSize + 2
        workspace.statistics.ensureCount(instanceCount * statisticsWidth)
        workspace.halfStatistics.ensureCount(instanceCount * statisticsWidth)
        workspace.instanceCount = instanceCount
        workspace.baseInstance = -1
        workspace.passUnits.ensureCount(max(model.inputSize, sharedWidth))
        workspace.passValues.ensureCount(max(model.inputSize, sharedWidth))
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
                        if index == 0,
                            sparseFirstLayer(
                                UnsafePointer(x), into: y, units: &workspace.passUnits, values: &workspace.passValues)
                        {
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
                                var count = 0
                                for column in 0..<sharedWidth where destination[column] != 0 {
                                    list[count] = Int32(truncatingIfNeeded: column)
                                    workspace.activeValues[instance * sharedWidth + count] = destination[column]
                                    count += 1
                                }
                                if Double(count) <= Self.activeFraction * Double(sharedWidth) {
                                    workspace.activeCounts[instance] = count
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
    /// `sgemv`'s only by float rounding). The rows are summed by ``RowKernels/addRows(into:base:rows:stride:indices:alphas:count:width:variant:)``
    /// in input order (the bytes of one `saxpy` per row, without a BLAS call per row); `units` and `values` are
    /// scratch room for the non-zero inputs (at least `inputSize` each).
    func sparseFirstLayer(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, units: inout [Int32],
        values: inout [Float]
    ) -> Bool {
        guard firstStochasticLayer > 0 else { return false }
        let inputSize = model.inputSize
        let outputSize = model.layers[0].outputSize
        return units.withUnsafeMutableBufferPointer { units in
            values.withUnsafeMutableBufferPointer { values in
                let count = RowKernels.nonZeroTerms(
                    of: input, count: inputSize, units: units.baseAddress!, values: values.baseAddress!)
                guard count * 4 <= inputSize else { return false }
                weightsByInput[0].withUnsafeBufferPointer { rows in
                    RowKernels.addRows(
                        into: output, base: output, rows: rows.baseAddress!, stride: outputSize,
                        indices: units.baseAddress!, alphas: values.baseAddress!, count: count, width: outputSize)
                }
                return true
            }
        }
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
                computeActiveBase(instance: instance, workspace: &workspace)
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
        let layer = model.layers[firstStochasticLayer]
        workspace.passUnits.ensureCount(2 * layer.inputSize)
        workspace.passValues.ensureCount(2 * layer.inputSize)
        if usesActiveUnits { workspace.activeBase.ensureCount(layer.outputSize) }
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
        return workspace.shared.withUnsafeBufferPointer { shared in
            workspace.activeUnits.withUnsafeBufferPointer { units in
                workspace.activeValues.withUnsafeBufferPointer { values in
                    workspace.activeBase.withUnsafeBufferPointer { base in
                        let prepared = PreparedInstance(
                            shared: shared.baseAddress! + instance * sharedWidth,
                            units: units.baseAddress! + instance * sharedWidth,
                            values: values.baseAddress! + instance * sharedWidth, activeCount: activeCount,
                            activeBase: base.baseAddress)
                        return workspace.maskWords.withUnsafeMutableBufferPointer { words in
                            withBlockBuffers(
                                words: words.baseAddress!, passes: &workspace.passes, next: &workspace.passesNext,
                                units: &workspace.passUnits, values: &workspace.passValues
                            ) { buffers in
                                workspace.statistics.withUnsafeMutableBufferPointer { statistics in
                                    workspace.halfStatistics.withUnsafeMutableBufferPointer { half in
                                        body(
                                            prepared, buffers, statistics.baseAddress! + instance * statisticsWidth,
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
            // Each pass's first stochastic layer straight into `output`: the all-kept sum minus its dropped units'
            // rows, or its kept units' rows from zero when fewer are kept than dropped.
            let width = layers[first].outputSize
            weightsByInput[first].withUnsafeBufferPointer { rows in
                for pass in 0..<passCount {
                    let dropped = stream.partitionActive(
                        prepared.values, units: prepared.units, count: activeCount, pass: firstPass + pass,
                        layer: first, dropout: dropout, droppedUnits: buffers.units, droppedValues: buffers.values,
                        keptUnits: buffers.units + sharedWidth, keptValues: buffers.values + sharedWidth)
                    let row = output + pass * width
                    if 2 * dropped <= activeCount {
                        RowKernels.addRows(
                            into: row, base: prepared.activeBase, rows: rows.baseAddress!, stride: width,
                            indices: buffers.units, alphas: buffers.values, count: dropped, width: width)
                    } else {
                        RowKernels.addRows(
                            into: row, base: nil, rows: rows.baseAddress!, stride: width,
                            indices: buffers.units + sharedWidth, alphas: buffers.values + sharedWidth,
                            count: activeCount - dropped, width: width)
                    }
                }
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
                // Done above.
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

    /// Computes the first stochastic layer's output (before its bias) of `instance` with all its active units kept
    /// into the workspace's `activeBase` (nothing for an instance on the dense path, nor when it is there already
    /// since `prepare`). `ensureBlockBuffers` has sized `activeBase`.
    func computeActiveBase(instance: Int, workspace: inout MonteCarloWorkspace) {
        let activeCount = workspace.activeCounts[instance]
        guard activeCount >= 0, workspace.baseInstance != instance else { return }
        workspace.baseInstance = instance
        let sharedWidth = model.layers[firstStochasticLayer].inputSize
        let width = model.layers[firstStochasticLayer].outputSize
        workspace.activeUnits.withUnsafeBufferPointer { units in
            workspace.activeValues.withUnsafeBufferPointer { values in
                weightsByInput[firstStochasticLayer].withUnsafeBufferPointer { rows in
                    workspace.activeBase.withUnsafeMutableBufferPointer { base in
                        RowKernels.addRows(
                            into: base.baseAddress!, base: nil, rows: rows.baseAddress!, stride: width,
                            indices: units.baseAddress! + instance * sharedWidth,
                            alphas: values.baseAddress! + instance * sharedWidth, count: activeCount, width: width)
                    }
                }
            }
        }
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

import MCDropoutJSON
import Testing

@testable import MCDropout

/// A `side × side` image with `values` at the given (row, column) pixels and 0 elsewhere.
private func image(side: Int, _ values: [(row: Int, column: Int, value: Float)]) -> [Float] {
    var pixels = [Float](repeating: 0, count: side * side)
    for (row, column, value) in values { pixels[row * side + column] = value }
    return pixels
}

/// `pixels` moved by `offset` through ``CenterOfMass/shift(_:side:by:)``.
private func shifted(_ pixels: [Float], side: Int, by offset: ImageOffset) -> [Float] {
    var copy = pixels
    copy.withUnsafeMutableBufferPointer { CenterOfMass.shift($0, side: side, by: offset) }
    return copy
}

private func recentered(_ pixels: [Float], side: Int) -> (image: [Float], offset: ImageOffset) {
    var copy = pixels
    let offset = copy.withUnsafeMutableBufferPointer { CenterOfMass.recenter($0, side: side) }
    return (copy, offset)
}

/// A small "digit": a plus sign of varying ink whose centre of mass is exactly pixel (`row`, `column`).
private func plus(side: Int, row: Int, column: Int) -> [Float] {
    image(
        side: side,
        [
            (row, column, 200), (row - 1, column, 90), (row + 1, column, 90), (row, column - 1, 40),
            (row, column + 1, 40),
        ])
}

@Suite("Centre-of-mass recentring (input.transform center_of_mass)")
struct InputTransformTests {
    @Test("a centred digit stays; the same digit moved anywhere inside comes back exactly", arguments: [7, 8, 28])
    func movedDigitComesBack(side: Int) {
        let centred = plus(side: side, row: side / 2, column: side / 2)
        #expect(recentered(centred, side: side).offset == .zero)
        for rows in -2...1 {
            for columns in -2...1 {
                let moved = shifted(centred, side: side, by: ImageOffset(rows: rows, columns: columns))
                let (back, offset) = recentered(moved, side: side)
                #expect(offset == ImageOffset(rows: -rows, columns: -columns))
                #expect(back == centred, "moved by (\(rows), \(columns))")
            }
        }
    }

    @Test("the target is pixel side / 2; halves round towards zero, so half a pixel off stays")
    func target() {
        // One lit pixel: the move is exactly its distance to (side / 2, side / 2).
        let single = image(side: 6, [(0, 5, 1)])
        #expect(recentered(single, side: 6) == (image(side: 6, [(3, 3, 1)]), ImageOffset(rows: 3, columns: -2)))
        #expect(recentered(image(side: 5, [(4, 0, 9)]), side: 5).offset == ImageOffset(rows: -2, columns: 2))
        // Two equal pixels at columns 2 and 3 (centre 2.5) or 3 and 4 (3.5): half a pixel from 3 either way.
        let left = image(side: 6, [(3, 2, 1), (3, 3, 1)])
        let right = image(side: 6, [(3, 3, 1), (3, 4, 1)])
        #expect(recentered(left, side: 6) == (left, .zero))
        #expect(recentered(right, side: 6) == (right, .zero))
        // 1.5 pixels off moves one pixel; a little more moves two.
        #expect(recentered(image(side: 6, [(3, 1, 1), (3, 2, 1)]), side: 6).offset == ImageOffset(rows: 0, columns: 1))
        #expect(recentered(image(side: 6, [(3, 1, 2), (3, 2, 1)]), side: 6).offset == ImageOffset(rows: 0, columns: 2))
    }

    @Test("an all-zero image is unchanged")
    func empty() {
        let blank = [Float](repeating: 0, count: 49)
        #expect(recentered(blank, side: 7) == (blank, .zero))
        let bytes = [UInt8](repeating: 0, count: 49)
        #expect(bytes.withUnsafeBufferPointer { CenterOfMass.offset(of: $0, side: 7) } == .zero)
    }

    @Test("pixels moved out are dropped and zeros fill in")
    func edgeCropping() {
        // Heavy ink at the top-left corner, light ink at the top-right: centre of mass (0, 1.25) → move (3, 2),
        // which carries the right-hand pixel out of the image.
        let lopsided = image(side: 6, [(0, 0, 3), (0, 5, 1)])
        #expect(recentered(lopsided, side: 6) == (image(side: 6, [(3, 2, 3)]), ImageOffset(rows: 3, columns: 2)))
    }

    @Test("the in-place shift equals a shifted copy for every move, both directions")
    func shiftMatchesReference() {
        let side = 5
        var generator = RandomSource(seed: 12)
        let pixels = (0..<(side * side)).map { _ in Float(generator.next() % 256) }
        for rows in -side...side {
            for columns in -side...side {
                var expected = [Float](repeating: 0, count: side * side)
                for y in 0..<side {
                    for x in 0..<side where (0..<side).contains(y - rows) && (0..<side).contains(x - columns) {
                        expected[y * side + x] = pixels[(y - rows) * side + x - columns]
                    }
                }
                #expect(shifted(pixels, side: side, by: ImageOffset(rows: rows, columns: columns)) == expected)
            }
        }
    }

    @Test("bytes and floats give the same move; preparing scales, moves, then normalises")
    func preparation() {
        let side = 6
        let raw: [UInt8] = image(side: side, [(0, 1, 255), (1, 1, 51), (2, 0, 17)]).map { UInt8($0) }
        let floats = raw.map(Float.init)
        let byteOffset = raw.withUnsafeBufferPointer { CenterOfMass.offset(of: $0, side: side) }
        #expect(byteOffset == floats.withUnsafeBufferPointer { CenterOfMass.offset(of: $0, side: side) })
        #expect(byteOffset == ImageOffset(rows: 3, columns: 2))

        let plain = InputPreparation(scale: 255)
        let moving = InputPreparation(scale: 255, transform: .centerOfMass, imageSide: side)
        let movedBytes = shifted(plain.prepared(raw[...], width: 36), side: side, by: byteOffset)
        #expect(moving.prepared(raw[...], width: 36) == movedBytes)
        var appended: [Float] = [-1]
        moving.append(floats + floats, to: &appended)
        let once = shifted(floats.map { $0 * (1 / 255) }, side: side, by: byteOffset)
        #expect(appended == [-1] + once + once)

        // Normalisation comes after the move: the zeros that fill in are normalised too.
        let mean = [Float](repeating: 0.5, count: 36)
        let std = [Float](repeating: 2, count: 36)
        let normalising = InputPreparation(scale: 255, transform: .centerOfMass, imageSide: side, mean: mean, std: std)
        #expect(normalising.prepared(raw[...], width: 36) == movedBytes.map { ($0 - 0.5) / 2 })
    }
}

@Suite("input.transform in the model file")
struct InputTransformMetadataTests {
    /// A 16-input model whose metadata says `shape`.
    func file(shape: [Int]?, transform: InputTransform?) -> ModelFile {
        var generator = RandomSource(seed: 4)
        let model = DropoutMLP(
            layerSizes: [16, 6, 3], dropoutProbabilities: [0, 0.5], initialization: .he, using: &generator)
        var metadata = ModelMetadata(
            layerSizes: model.layerSizes, dropoutProbabilities: [0, 0.5], labels: ["a", "b", "c"], dataset: "t",
            seed: 4,
            inputScale: 255, inputShape: shape)
        metadata.inputTransform = transform
        return ModelFile(model: model, metadata: metadata)
    }

    @Test("the transform round-trips; a file without one (every older file) has none")
    func roundTrip() throws {
        for shape in [[4, 4], [1, 4, 4], [4, 4, 1]] {
            let stored = file(shape: shape, transform: .centerOfMass)
            let decoded = try ModelFile(decoding: stored.encoded())
            #expect(decoded == stored)
            #expect(decoded.metadata.inputTransform == .centerOfMass)
            #expect(decoded.metadata.inputPreparation == InputPreparation(transform: .centerOfMass, imageSide: 4))
        }
        let plain = try ModelFile(decoding: file(shape: [4, 4], transform: nil).encoded())
        #expect(plain.metadata.inputTransform == nil)
        #expect(plain.metadata.inputPreparation == InputPreparation(scale: 255))
        #expect(!String(decoding: file(shape: [4, 4], transform: nil).encoded(), as: UTF8.self).contains("transform"))
        #expect(
            String(decoding: file(shape: [4, 4], transform: .centerOfMass).encoded(), as: UTF8.self)
                .contains(#"\"transform\":\"center_of_mass\""#))
    }

    @Test(
        "a transform, density statistics or ensemble members make a file version 2, so older servers refuse it; others stay 1; 3 is refused"
    )
    func formatVersion() throws {
        let moved = file(shape: [4, 4], transform: .centerOfMass)
        let plain = file(shape: [4, 4], transform: nil)
        #expect(moved.metadata.formatVersion == 2 && plain.metadata.formatVersion == 1)
        // Density statistics and deep-ensemble members need version 2 as well (older readers would drop them).
        var scored = plain
        scored.density = DensityModel(ink: InkStatistics(cut: 0.5, medianShare: 0.2))
        #expect(String(decoding: scored.encoded(), as: UTF8.self).contains(#"\"format_version\":2"#))
        #expect(try ModelFile(decoding: scored.encoded()) == scored)
        let ensemble = ModelFile(members: [plain.model, plain.model], metadata: plain.metadata)
        #expect(String(decoding: ensemble.encoded(), as: UTF8.self).contains(#"\"format_version\":2"#))
        #expect(try ModelFile(decoding: ensemble.encoded()) == ensemble)
        #expect(String(decoding: moved.encoded(), as: UTF8.self).contains(#"\"format_version\":2"#))
        #expect(String(decoding: plain.encoded(), as: UTF8.self).contains(#"\"format_version\":1"#))
        let refusal = ModelFileError.invalidMetadata(
            field: "format_version",
            reason: "only versions 1 to 2 are supported (a newer mcdropout wrote this file)")
        for version in ["3", "0", "1.5"] {
            #expect(throws: refusal) {
                try ModelFile(
                    decoding: withHeader(plain.encoded()) {
                        $0.replacingFirst(#"\"format_version\":1"#, with: #"\"format_version\":"# + version)
                    })
            }
        }
        // A version-2 file without a transform still reads (it is written as 1 again).
        let two = try ModelFile(
            decoding: withHeader(plain.encoded()) {
                $0.replacingFirst(#"\"format_version\":1"#, with: #"\"format_version\":2"#)
            })
        #expect(two == plain)
    }

    @Test("unknown values, non-strings and images that are not square and single-channel are refused at load")
    func rejection() throws {
        let bytes = file(shape: [4, 4], transform: .centerOfMass).encoded()
        let known = #"\"transform\":\"center_of_mass\""#
        #expect(
            throws: ModelFileError.invalidMetadata(
                field: "input.transform", reason: "'centre' is not supported (one of center_of_mass)")
        ) {
            try ModelFile(decoding: withHeader(bytes) { $0.replacingFirst(known, with: #"\"transform\":\"centre\""#) })
        }
        #expect(
            throws: ModelFileError.invalidMetadata(
                field: "input.transform", reason: "must be a string (one of center_of_mass)")
        ) {
            try ModelFile(decoding: withHeader(bytes) { $0.replacingFirst(known, with: #"\"transform\":1"#) })
        }
        for shape in [[2, 8], [16], [2, 4, 2]] {
            let error = ModelFileError.invalidMetadata(
                field: "input.transform",
                reason: "center_of_mass needs a square single-channel image (input.shape [side, side]); "
                    + "input.shape is \(shape)")
            #expect(throws: error) { try ModelFile(decoding: file(shape: shape, transform: .centerOfMass).encoded()) }
        }
        #expect(
            throws: ModelFileError.invalidMetadata(
                field: "input.transform",
                reason: "center_of_mass needs a square single-channel image (input.shape [side, side]); "
                    + "input.shape is none")
        ) {
            try ModelFile(decoding: file(shape: nil, transform: .centerOfMass).encoded())
        }
        // The committed sample file's 4 × 5 images cannot be recentred either.
        let sample = sampleModelFile().encoded()
        #expect(throws: ModelFileError.self) {
            try ModelFile(
                decoding: withHeader(sample) {
                    $0.replacingFirst(#"\"scale\":255"#, with: #"\"scale\":255,\"transform\":\"center_of_mass\""#)
                })
        }
    }
}

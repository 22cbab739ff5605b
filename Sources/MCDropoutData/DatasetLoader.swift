import CZlib
import Foundation

/// Reads IDX data sets from disk, raw or gzip-compressed; the only file that touches zlib or the file system.
public enum DatasetLoader {
    /// The split of a standard MNIST-layout directory.
    public enum Split: String, Sendable {
        case train
        case test = "t10k"
    }

    /// Loads `DIRECTORY/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
    public static func load(directory: String, split: Split, classCount: Int = 10) throws(DatasetError) -> LabeledImages
    {
        let imagesPath = try locate(directory: directory, stem: "\(split.rawValue)-images-idx3-ubyte")
        let labelsPath = try locate(directory: directory, stem: "\(split.rawValue)-labels-idx1-ubyte")
        let images = try readIDX(path: imagesPath)
        let labels = try readIDX(path: labelsPath)
        return try LabeledImages(images: images, labels: labels, classCount: classCount, file: labelsPath)
    }

    /// Reads one IDX file, inflating it first when it starts with the gzip magic bytes.
    public static func readIDX(path: String) throws(DatasetError) -> IDXArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(file: path, reason: "cannot read the file")
        }
        var bytes = [UInt8](data)
        if bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B {
            bytes = try gunzip(bytes, file: path)
        }
        return try IDXArray(parsing: bytes, file: path)
    }

    private static func locate(directory: String, stem: String) throws(DatasetError) -> String {
        for candidate in ["\(directory)/\(stem).gz", "\(directory)/\(stem)"]
        where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw .unreadable(
            file: "\(directory)/\(stem)[.gz]", reason: "file not found (run scripts/fetch-data.sh to create data/)")
    }

    /// Inflates a whole gzip stream with zlib (`inflateInit2_` with gzip decoding, `inflate`, `inflateEnd`).
    static func gunzip(_ compressed: [UInt8], file: String) throws(DatasetError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .unreadable(file: file, reason: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        var input = compressed
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                }
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else {
            throw .unreadable(file: file, reason: "corrupt or truncated gzip data (zlib status \(status))")
        }
        return output
    }
}

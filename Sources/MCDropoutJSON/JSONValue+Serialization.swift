extension JSONValue: CustomStringConvertible {
    /// The value as compact JSON text, exactly as ``serialized()`` writes it.
    public var description: String {
        String(decoding: serialized(), as: UTF8.self)
    }

    /// The value as compact, byte-deterministic JSON in UTF-8; see ``JSONWriter`` for the number and string format.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter()
        writer.value(self)
        return writer.bytes
    }
}

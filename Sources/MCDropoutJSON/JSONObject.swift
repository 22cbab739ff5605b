/// A JSON object: members in document order, with lookup by key.
///
/// Members keep the order in which they were parsed or added, so serialization is byte-deterministic. Two objects are
/// equal when they have the same members in the same order (`{"a":1,"b":2}` differs from `{"b":2,"a":1}`), which
/// matches the equality of their serialized bytes.
///
/// The parser rejects duplicate keys by default. An object that does hold duplicates (built by hand, or parsed with
/// ``JSONParser/Options/rejectDuplicateKeys`` off) keeps all of them; lookup returns the *last* one, as JavaScript's
/// `JSON.parse` does.
///
/// Lookup scans the members for small objects and uses a hash index once an object has more than
/// ``indexThreshold`` members, so neither lookup nor parsing is quadratic in the number of members.
public struct JSONObject: Sendable {
    /// A member: a key and its value.
    public typealias Member = (key: String, value: JSONValue)

    /// The member count above which lookups use a hash index instead of a linear scan.
    public static let indexThreshold = 16

    /// The members in document order.
    public private(set) var members: [Member]

    /// Each key's position in `members` (its last occurrence); `nil` while the object is small.
    private var keyPositions: [String: Int]?

    /// Creates an empty object.
    public init() {
        members = []
        keyPositions = nil
    }

    /// Creates an object with the given members, in order.
    public init(_ members: [Member]) {
        self.members = members
        keyPositions = members.count > Self.indexThreshold ? Self.makePositions(members) : nil
    }

    /// Creates an object from members and an index that the caller has already built (or `nil` for a small object).
    init(members: [Member], keyPositions: [String: Int]?) {
        self.members = members
        self.keyPositions = keyPositions
    }

    /// The keys in document order.
    public var keys: [String] {
        members.map(\.key)
    }

    /// The value of the member named `key` (its last occurrence), or `nil` if there is none.
    ///
    /// Setting a value replaces the last member named `key`, or appends a member if there is none. Setting `nil`
    /// removes every member named `key`.
    public subscript(key: String) -> JSONValue? {
        get {
            position(ofKey: key).map { members[$0].value }
        }
        set {
            if let newValue {
                if let position = position(ofKey: key) {
                    members[position].value = newValue
                } else {
                    append(key: key, value: newValue)
                }
            } else if position(ofKey: key) != nil {
                members.removeAll { $0.key == key }
                keyPositions = members.count > Self.indexThreshold ? Self.makePositions(members) : nil
            }
        }
    }

    /// Whether the object has a member named `key`.
    public func contains(key: String) -> Bool {
        position(ofKey: key) != nil
    }

    /// Appends a member, even if a member with the same key exists (lookups then find the new one).
    public mutating func append(key: String, value: JSONValue) {
        members.append((key: key, value: value))
        if keyPositions != nil {
            keyPositions![key] = members.count - 1
        } else if members.count > Self.indexThreshold {
            keyPositions = Self.makePositions(members)
        }
    }

    /// The position of the last member named `key`.
    private func position(ofKey key: String) -> Int? {
        if let keyPositions { return keyPositions[key] }
        return members.lastIndex { $0.key == key }
    }

    /// Builds a key index that maps each key to its last occurrence.
    static func makePositions(_ members: [Member]) -> [String: Int] {
        var positions = [String: Int](minimumCapacity: members.count)
        for (position, member) in members.enumerated() {
            positions[member.key] = position
        }
        return positions
    }
}

extension JSONObject: Equatable {
    /// Whether both objects have the same members in the same order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (left, right) in zip(lhs.members, rhs.members) where left.key != right.key || left.value != right.value {
            return false
        }
        return true
    }
}

extension JSONObject: RandomAccessCollection {
    /// The position of the first member.
    public var startIndex: Int { members.startIndex }

    /// The position past the last member.
    public var endIndex: Int { members.endIndex }

    /// The member at `position`.
    public subscript(position: Int) -> Member {
        members[position]
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Creates an object whose members are in the literal's order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}

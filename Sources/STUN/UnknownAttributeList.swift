/// A small fixed-capacity, inline (heap-free) list of attribute types, as carried by
/// UNKNOWN-ATTRIBUTES. Inserting beyond `capacity` sets `overflowed` instead of growing.
public struct UnknownAttributeList: Sequence, Hashable, Sendable {
    /// Maximum number of entries.
    public static let capacity = 16

    @usableFromInline
    var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// Number of entries.
    public private(set) var count: Int = 0
    /// True if an insert was refused because the list was full.
    public private(set) var overflowed = false

    /// An empty list.
    @inlinable
    public init() {}

    /// True when empty.
    @inlinable
    public var isEmpty: Bool { count == 0 }

    /// The entry at `index` (0..<count); nil when out of range.
    @inlinable
    public subscript(index: Int) -> AttributeType? {
        guard index >= 0, index < count else { return nil }
        return withUnsafeBytes(of: storage) { AttributeType(rawValue: $0.load(fromByteOffset: index * 2, as: UInt16.self)) }
    }

    /// Appends `type` unless already present; returns false if it was full.
    @discardableResult
    public mutating func insert(_ type: AttributeType) -> Bool {
        for existing in self where existing == type { return true }
        guard count < Self.capacity else {
            overflowed = true
            return false
        }
        let index = count
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: type.rawValue, toByteOffset: index * 2, as: UInt16.self) }
        count += 1
        return true
    }

    /// Iterates the entries in insertion order.
    public struct Iterator: IteratorProtocol, Sendable {
        @usableFromInline
        let list: UnknownAttributeList
        @usableFromInline
        var index = 0

        @inlinable
        init(list: UnknownAttributeList) {
            self.list = list
        }

        /// The next entry.
        @inlinable
        public mutating func next() -> AttributeType? {
            defer { index += 1 }
            return list[index]
        }
    }

    /// An iterator over the entries.
    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(list: self)
    }

    /// Equal when the entries (not the unused storage) are equal.
    @inlinable
    public static func == (lhs: UnknownAttributeList, rhs: UnknownAttributeList) -> Bool {
        lhs.count == rhs.count && lhs.overflowed == rhs.overflowed && lhs.elementsEqual(rhs)
    }

    /// Hashes the entries.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for type in self { hasher.combine(type.rawValue) }
    }
}

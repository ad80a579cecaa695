/// A list of big-endian 16-bit values (e.g. UNKNOWN-ATTRIBUTES) viewed in place.
public struct UInt16ListSequence<Element: RawRepresentable>: Sequence where Element.RawValue == UInt16 {
    @usableFromInline
    let value: UnsafeRawBufferPointer

    @inlinable
    init(_ value: UnsafeRawBufferPointer) {
        self.value = value
    }

    /// Number of entries.
    @inlinable
    public var count: Int { value.count / 2 }

    /// Iterates the entries.
    public struct Iterator: IteratorProtocol {
        @usableFromInline
        let value: UnsafeRawBufferPointer
        @usableFromInline
        var offset = 0

        @inlinable
        init(_ value: UnsafeRawBufferPointer) {
            self.value = value
        }

        /// The next entry, or nil at the end.
        @inlinable
        public mutating func next() -> Element? {
            guard offset + 2 <= value.count else { return nil }
            defer { offset += 2 }
            return Element(rawValue: value.stunUInt16(at: offset))
        }
    }

    /// An iterator over the entries.
    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(value)
    }
}

/// PASSWORD-ALGORITHMS entries (algorithm number, parameters) viewed in place.
public struct PasswordAlgorithmSequence: Sequence {
    /// One entry: algorithm number (1 = MD5, 2 = SHA-256) and its parameters.
    public typealias Element = (algorithm: UInt16, parameters: UnsafeRawBufferPointer)

    @usableFromInline
    let value: UnsafeRawBufferPointer

    /// Validates the whole list; nil if any entry overruns.
    @inlinable
    init?(_ value: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < value.count {
            guard value.count - offset >= 4 else { return nil }
            let length = Int(value.stunUInt16(at: offset + 2))
            guard length <= value.count - offset - 4 else { return nil }
            offset += 4 + Swift.min(stunPadded(length), value.count - offset - 4)
        }
        self.value = value
    }

    /// Iterates the entries.
    public struct Iterator: IteratorProtocol {
        @usableFromInline
        let value: UnsafeRawBufferPointer
        @usableFromInline
        var offset = 0

        @inlinable
        init(_ value: UnsafeRawBufferPointer) {
            self.value = value
        }

        /// The next entry, or nil at the end.
        @inlinable
        public mutating func next() -> Element? {
            guard value.count - offset >= 4 else { return nil }
            let length = Int(value.stunUInt16(at: offset + 2))
            guard length <= value.count - offset - 4 else { return nil }
            let element = (value.stunUInt16(at: offset), value.stunSlice(offset + 4, length))
            offset += 4 + Swift.min(stunPadded(length), value.count - offset - 4)
            return element
        }
    }

    /// An iterator over the entries.
    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(value)
    }
}

/// The attributes of a validated message, in wire order, without copying or allocating.
public struct StunAttributeSequence: Sequence {
    /// One attribute: its type and its unpadded value.
    public typealias Element = (type: AttributeType, value: UnsafeRawBufferPointer)

    @usableFromInline
    let bytes: UnsafeRawBufferPointer

    @inlinable
    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Walks the TLV chain; stops early (rather than trapping) on anything out of bounds.
    public struct Iterator: IteratorProtocol {
        @usableFromInline
        let bytes: UnsafeRawBufferPointer
        @usableFromInline
        var offset: Int

        @inlinable
        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            self.offset = StunHeader.size
        }

        /// The next attribute, or nil at the end.
        @inlinable
        public mutating func next() -> Element? {
            guard offset + 4 <= bytes.count else { return nil }
            let type = AttributeType(rawValue: bytes.stunUInt16(at: offset))
            let length = Int(bytes.stunUInt16(at: offset + 2))
            let start = offset + 4
            guard length <= bytes.count - start else {
                offset = bytes.count
                return nil
            }
            offset = Swift.min(bytes.count, start + stunPadded(length))
            return (type, bytes.stunSlice(start, length))
        }
    }

    /// An iterator positioned at the first attribute.
    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(bytes: bytes)
    }
}

// Big-endian load/store helpers over raw buffers. Callers bounds-check before use; the
// subscripts still trap in debug builds if that contract is ever broken.

extension UnsafeRawBufferPointer {
    @inlinable
    func stunUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    @inlinable
    func stunUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16
            | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }

    @inlinable
    func stunUInt64(at offset: Int) -> UInt64 {
        UInt64(stunUInt32(at: offset)) << 32 | UInt64(stunUInt32(at: offset + 4))
    }

    /// The sub-buffer `[offset, offset + count)`; the caller guarantees it is in bounds.
    @inlinable
    func stunSlice(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[offset..<(offset + count)])
    }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable
    func stunStore(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    @inlinable
    func stunStore(_ value: UInt32, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value >> 24)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        self[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 3] = UInt8(truncatingIfNeeded: value)
    }

    @inlinable
    func stunStore(_ value: UInt64, at offset: Int) {
        stunStore(UInt32(truncatingIfNeeded: value >> 32), at: offset)
        stunStore(UInt32(truncatingIfNeeded: value), at: offset + 4)
    }

    /// Copies `source` to `offset`; the caller guarantees it fits.
    @inlinable
    func stunCopy(_ source: UnsafeRawBufferPointer, at offset: Int) {
        guard source.count > 0, let dst = baseAddress, let src = source.baseAddress else { return }
        (dst + offset).copyMemory(from: src, byteCount: source.count)
    }

    /// Zero-fills `[offset, offset + count)`.
    @inlinable
    func stunZero(_ offset: Int, _ count: Int) {
        var index = offset
        while index < offset + count {
            self[index] = 0
            index += 1
        }
    }
}

/// Rounds `length` up to the next multiple of four (STUN attribute padding).
@inlinable
func stunPadded(_ length: Int) -> Int {
    (length + 3) & ~3
}

import COpenSSL
import Glibc

/// The 96-bit STUN transaction id, stored inline: `high` is bytes 0..<4, `low` bytes 4..<12.
public struct TransactionID: Hashable, Sendable, CustomStringConvertible {
    /// The first four bytes, big-endian.
    public var high: UInt32
    /// The last eight bytes, big-endian.
    public var low: UInt64

    /// Creates an id from its two big-endian parts.
    @inlinable
    public init(high: UInt32, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads an id from exactly 12 bytes (a precondition: passing another size is a programming error).
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 12, "a STUN transaction id is 12 bytes")
        self.init(high: bytes.stunUInt32(at: 0), low: bytes.stunUInt64(at: 4))
    }

    /// A fresh id from the OpenSSL CSPRNG (falls back to glibc `arc4random_buf` should `RAND_bytes` fail).
    public static func random() -> TransactionID {
        var raw: (UInt32, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &raw) { buffer in
            let pointer = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if RAND_bytes(pointer, Int32(buffer.count)) != 1 {
                arc4random_buf(buffer.baseAddress!, buffer.count)
            }
        }
        return TransactionID(high: raw.0, low: raw.1)
    }

    /// Writes the 12 bytes to `buffer` at `offset` (the caller guarantees room).
    @inlinable
    public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.stunStore(high, at: offset)
        buffer.stunStore(low, at: offset + 4)
    }

    /// 24 lowercase hex digits.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(24)
        for shift in stride(from: 28, through: 0, by: -4) { text.append(digits[Int((high >> UInt32(shift)) & 0xF)]) }
        for shift in stride(from: 60, through: 0, by: -4) { text.append(digits[Int((low >> UInt64(shift)) & 0xF)]) }
        return String(decoding: text, as: UTF8.self)
    }
}

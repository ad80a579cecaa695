import COpenSSL
import Glibc
import STUN

/// The long-term credential key derivations of RFC 8489 §18.5 (PASSWORD-ALGORITHMS values).
public enum LongTermKeyAlgorithm: UInt16, Sendable, CaseIterable {
    /// key = MD5(username ":" realm ":" password), 16 bytes; used with MESSAGE-INTEGRITY.
    case md5 = 0x0001
    /// key = SHA-256(username ":" realm ":" password), 32 bytes; used with MESSAGE-INTEGRITY-SHA256.
    case sha256 = 0x0002

    /// Key size in bytes.
    @inlinable
    public var keyLength: Int { self == .md5 ? LongTermKey.md5Length : LongTermKey.sha256Length }

    /// Derives the key into the first `keyLength` bytes of `output`; false on failure.
    public func deriveKey(username: UnsafeRawBufferPointer, realm: UnsafeRawBufferPointer,
                          password: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        switch self {
        case .md5: return LongTermKey.md5(username: username, realm: realm, password: password, into: output)
        case .sha256: return LongTermKey.sha256(username: username, realm: realm, password: password, into: output)
        }
    }
}

/// Compares two buffers without a data-dependent early exit (the length is not secret).
@inline(never)
func turnConstantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}

/// Fills `buffer` from the OpenSSL CSPRNG, falling back to glibc `arc4random_buf` (kernel
/// getrandom) should `RAND_bytes` fail.
func turnRandomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    if RAND_bytes(base.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) != 1 {
        arc4random_buf(base, buffer.count)
    }
}

/// Parses an unsigned decimal number made only of ASCII digits; nil when empty, when any
/// other byte occurs, or on UInt64 overflow.
func turnParseDecimal(_ digits: UnsafeRawBufferPointer) -> UInt64? {
    guard !digits.isEmpty else { return nil }
    var value: UInt64 = 0
    for byte in digits {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
        guard !overflow, !overflow2 else { return nil }
        value = sum
    }
    return value
}

/// 64 bytes of inline storage (no heap), used for keys and nonces.
typealias TurnBytes64 = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

/// A zeroed `TurnBytes64`.
let turnZeroBytes64: TurnBytes64 = (0, 0, 0, 0, 0, 0, 0, 0)

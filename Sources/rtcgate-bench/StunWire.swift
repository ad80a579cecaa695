import Glibc

/// Minimal STUN (RFC 8489) Binding request encoder and response validator.
///
/// Written independently of rtcgate's own `STUN` module on purpose: the
/// benchmark must judge the server with code that does not share its bugs.
/// Transaction ids are laid out as 4 bytes slot index + 8 bytes counter
/// (both big-endian) so that a response maps back to its request in O(1).
enum StunWire {
    static let magicCookie: UInt32 = 0x2112_A442
    static let headerSize = 20
    static let bindingRequest: UInt16 = 0x0001
    static let bindingSuccess: UInt16 = 0x0101
    static let attrXorMappedAddress: UInt16 = 0x0020
    static let attrFingerprint: UInt16 = 0x8028
    static let fingerprintXor: UInt32 = 0x5354_554E
    /// Bytes reserved per request buffer (header + optional FINGERPRINT).
    static let requestStride = 32

    /// Size of a Binding request with or without FINGERPRINT.
    static func requestSize(fingerprint: Bool) -> Int { fingerprint ? 28 : 20 }

    /// Writes the constant part of a Binding request (type, length, cookie,
    /// slot index) into `buf`; the counter is filled by `stamp`.
    static func writeRequestTemplate(_ buf: UnsafeMutableRawPointer, slot: UInt32, fingerprint: Bool) {
        storeBE16(buf, 0, bindingRequest)
        storeBE16(buf, 2, fingerprint ? 8 : 0)
        storeBE32(buf, 4, magicCookie)
        storeBE32(buf, 8, slot)
        storeBE64(buf, 12, 0)
        if fingerprint {
            storeBE16(buf, 20, attrFingerprint)
            storeBE16(buf, 22, 4)
            storeBE32(buf, 24, 0)
        }
    }

    /// Puts a fresh counter into the transaction id (and refreshes FINGERPRINT).
    @inline(__always)
    static func stamp(_ buf: UnsafeMutableRawPointer, counter: UInt64, crc: CRC32?) {
        storeBE64(buf, 12, counter)
        if let crc {
            storeBE32(buf, 24, crc.checksum(UnsafeRawPointer(buf), count: 20) ^ fingerprintXor)
        }
    }

    /// Outcome of checking one datagram that claims to be a Binding success response.
    enum BodyVerdict {
        case ok(fingerprinted: Bool)
        case malformed
        case badFingerprint
        case badAddress
    }

    /// Checks the basic header invariants; returns the body length or nil when malformed.
    @inline(__always)
    static func headerBodyLength(_ p: UnsafeRawPointer, count: Int) -> Int? {
        guard count >= headerSize, p.load(as: UInt8.self) & 0xC0 == 0,
              loadBE32(p, 4) == magicCookie else { return nil }
        let bodyLength = Int(loadBE16(p, 2))
        guard bodyLength + headerSize == count, bodyLength & 3 == 0 else { return nil }
        return bodyLength
    }

    /// Walks the attributes of a success response: XOR-MAPPED-ADDRESS must
    /// equal `expected`, FINGERPRINT (if present) must be last and correct.
    static func validateBody(_ p: UnsafeRawPointer, count: Int, expected: LocalAddress, crc: CRC32) -> BodyVerdict {
        var offset = headerSize
        var mapped: LocalAddress? = nil
        var fingerprinted = false
        while offset + 4 <= count {
            let type = loadBE16(p, offset)
            let length = Int(loadBE16(p, offset + 2))
            let value = offset + 4
            guard value + length <= count else { return .malformed }
            if type == attrXorMappedAddress && mapped == nil {
                guard let decoded = decodeXorMapped(p, value: value, length: length) else { return .malformed }
                mapped = decoded
            } else if type == attrFingerprint {
                guard length == 4, value + 4 == count else { return .malformed }
                let computed = crc.checksum(p, count: offset) ^ fingerprintXor
                guard computed == loadBE32(p, value) else { return .badFingerprint }
                fingerprinted = true
            }
            offset = value + ((length + 3) & ~3)
        }
        guard offset == count else { return .malformed }
        guard let mapped, mapped == expected else { return .badAddress }
        return .ok(fingerprinted: fingerprinted)
    }

    /// Decodes XOR-MAPPED-ADDRESS (IPv4 or IPv6) into raw network-order bytes.
    static func decodeXorMapped(_ p: UnsafeRawPointer, value: Int, length: Int) -> LocalAddress? {
        let family = p.load(fromByteOffset: value + 1, as: UInt8.self)
        let port = loadBE16(p, value + 2) ^ UInt16(truncatingIfNeeded: magicCookie >> 16)
        // XOR key in wire order: cookie (bytes 4..7) followed by the transaction id.
        let key0 = p.loadUnaligned(fromByteOffset: 4, as: UInt64.self)
        let key1 = p.loadUnaligned(fromByteOffset: 12, as: UInt64.self)
        switch family {
        case 1 where length == 8:
            let a = p.loadUnaligned(fromByteOffset: value + 4, as: UInt32.self)
                ^ p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            return LocalAddress(family: 1, port: port, high: UInt64(a), low: 0)
        case 2 where length == 20:
            let h = p.loadUnaligned(fromByteOffset: value + 4, as: UInt64.self) ^ key0
            let l = p.loadUnaligned(fromByteOffset: value + 12, as: UInt64.self) ^ key1
            return LocalAddress(family: 2, port: port, high: h, low: l)
        default:
            return nil
        }
    }

    @inline(__always) static func loadBE16(_ p: UnsafeRawPointer, _ o: Int) -> UInt16 {
        UInt16(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }
    @inline(__always) static func loadBE32(_ p: UnsafeRawPointer, _ o: Int) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }
    @inline(__always) static func loadBE64(_ p: UnsafeRawPointer, _ o: Int) -> UInt64 {
        UInt64(bigEndian: p.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }
    @inline(__always) static func storeBE16(_ p: UnsafeMutableRawPointer, _ o: Int, _ v: UInt16) {
        p.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt16.self)
    }
    @inline(__always) static func storeBE32(_ p: UnsafeMutableRawPointer, _ o: Int, _ v: UInt32) {
        p.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt32.self)
    }
    @inline(__always) static func storeBE64(_ p: UnsafeMutableRawPointer, _ o: Int, _ v: UInt64) {
        p.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt64.self)
    }
}

/// A socket address as raw network-order bytes, comparable with what
/// XOR-MAPPED-ADDRESS decodes to. IPv4 keeps its 4 bytes in `high`.
struct LocalAddress: Equatable {
    /// STUN family code: 1 = IPv4, 2 = IPv6.
    var family: UInt8
    var port: UInt16
    var high: UInt64
    var low: UInt64
}

/// Table-driven CRC-32 (IEEE 802.3, reflected), as used by STUN FINGERPRINT.
/// The table is allocated once and never freed (lives for the whole run).
final class CRC32 {
    private let table: UnsafeMutablePointer<UInt32>

    init() {
        table = .allocate(capacity: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1) }
            table[i] = c
        }
    }

    deinit { table.deallocate() }

    /// CRC-32 of `count` bytes at `p`.
    @inline(__always)
    func checksum(_ p: UnsafeRawPointer, count: Int) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        for i in 0..<count {
            c = table[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
        }
        return c ^ 0xFFFF_FFFF
    }
}

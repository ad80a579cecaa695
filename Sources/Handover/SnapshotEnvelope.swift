import CSystem

/// The framing of the state a running rtcgate hands to its successor (docs/handover.md): a magic
/// number, the snapshot format's version, the payload's length and a CRC-32C of the payload. A
/// successor that does not know the version refuses the whole snapshot, so the old process keeps
/// serving; a damaged or truncated snapshot is refused the same way.
public enum SnapshotEnvelope {
    /// The snapshot format this build writes and reads (the binary's build stamp, CSystem).
    public static let currentVersion = UInt16(clamping: rtcgate_snapshot_format())
    /// Largest payload accepted (a gateway's whole state is far smaller).
    public static let maxPayloadBytes = 64 << 20
    static let magic: [UInt8] = Array("RTCGHOVR".utf8)
    static let headerBytes = 8 + 2 + 2 + 4 + 4

    /// Why a snapshot was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case notASnapshot
        case unsupportedVersion(found: UInt16, supported: UInt16)
        case truncated(expected: Int, got: Int)
        case checksumMismatch
        case tooLarge(Int)

        public var description: String {
            switch self {
            case .notASnapshot: "not an rtcgate handover snapshot"
            case .unsupportedVersion(let found, let supported):
                "snapshot format \(found) is not the one this build reads (\(supported)): the running rtcgate keeps serving"
            case .truncated(let expected, let got): "snapshot truncated: \(got) of \(expected) bytes"
            case .checksumMismatch: "snapshot checksum mismatch"
            case .tooLarge(let bytes): "snapshot of \(bytes) bytes exceeds the limit"
            }
        }
    }

    /// Wraps `payload` (format `version`).
    public static func seal(_ payload: [UInt8], version: UInt16 = currentVersion) -> [UInt8] {
        var out = magic
        out += [UInt8(version >> 8), UInt8(version & 0xff), 0, 0]
        out += DescriptorChannel.u32(UInt32(payload.count))
        out += DescriptorChannel.u32(crc32c(payload))
        return out + payload
    }

    /// The payload of a sealed snapshot, or why it is refused.
    public static func open(_ bytes: [UInt8], supported: UInt16 = currentVersion) throws(Refusal) -> [UInt8] {
        guard bytes.count >= headerBytes, Array(bytes[0..<8]) == magic else {
            if bytes.count < headerBytes && Array(bytes.prefix(8)) == Array(magic.prefix(min(8, bytes.count))) && !bytes.isEmpty {
                throw .truncated(expected: headerBytes, got: bytes.count)
            }
            throw .notASnapshot
        }
        let version = UInt16(bytes[8]) << 8 | UInt16(bytes[9])
        guard version == supported else { throw .unsupportedVersion(found: version, supported: supported) }
        let length = Int(DescriptorChannel.readU32(bytes, 12))
        guard length <= maxPayloadBytes else { throw .tooLarge(length) }
        guard bytes.count == headerBytes + length else { throw .truncated(expected: headerBytes + length, got: bytes.count) }
        let payload = Array(bytes[headerBytes...])
        guard crc32c(payload) == DescriptorChannel.readU32(bytes, 16) else { throw .checksumMismatch }
        return payload
    }

    /// CRC-32C (Castagnoli, reflected, as in iSCSI and ext4), a byte at a time by table: the
    /// snapshot is checked inside the handover's pause.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return ~crc
    }

    private static let crcTable: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }
}

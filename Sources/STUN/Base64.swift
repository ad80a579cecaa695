/// Minimal RFC 4648 base64, the project's one encoder: the standard alphabet with `=` padding
/// (TURN REST passwords, the RFC 8489 §9.2 nonce cookie) and the URL-safe alphabet without
/// padding (nonce payloads, generated broker passwords). Works on caller buffers; never
/// allocates except in the `String` convenience.
public enum Base64 {
    /// Which alphabet to use.
    public enum Alphabet: Sendable {
        /// `A–Z a–z 0–9 + /` with `=` padding (RFC 4648 §4).
        case standard
        /// `A–Z a–z 0–9 - _` without padding (RFC 4648 §5).
        case urlSafeUnpadded
    }

    /// Characters `encode` writes for `byteCount` input bytes.
    @inlinable
    public static func encodedLength(_ byteCount: Int, _ alphabet: Alphabet) -> Int {
        switch alphabet {
        case .standard: return (byteCount + 2) / 3 * 4
        case .urlSafeUnpadded: return (byteCount * 8 + 5) / 6
        }
    }

    /// Encodes `input` into `output` and returns the number of ASCII bytes written, or nil
    /// when `output` is shorter than `encodedLength(input.count, alphabet)`.
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                              _ alphabet: Alphabet = .standard) -> Int? {
        let needed = encodedLength(input.count, alphabet)
        guard output.count >= needed else { return nil }
        var written = 0
        var index = 0
        while index < input.count {
            let remaining = min(3, input.count - index)
            var group = UInt32(input[index]) << 16
            if remaining > 1 { group |= UInt32(input[index + 1]) << 8 }
            if remaining > 2 { group |= UInt32(input[index + 2]) }
            for slot in 0..<4 {
                if slot <= remaining {
                    output[written] = symbol(UInt8(truncatingIfNeeded: group >> (18 - 6 * UInt32(slot))) & 0x3F,
                                             alphabet)
                    written += 1
                } else if alphabet == .standard {
                    output[written] = UInt8(ascii: "=")
                    written += 1
                }
            }
            index += 3
        }
        return written
    }

    /// Convenience: the encoding of `bytes` as a `String` (standard and padded by default).
    public static func encode(_ bytes: [UInt8], _ alphabet: Alphabet = .standard) -> String {
        let length = encodedLength(bytes.count, alphabet)
        return String(unsafeUninitializedCapacity: max(length, 1)) { output in
            bytes.withUnsafeBytes { encode($0, into: UnsafeMutableRawBufferPointer(output), alphabet) } ?? 0
        }
    }

    /// Decodes `input` into `output`; returns the number of bytes written, or nil on a
    /// character outside the alphabet, bad padding, non-zero trailing bits, or a short
    /// `output`. Whitespace is not accepted.
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                              _ alphabet: Alphabet = .standard) -> Int? {
        var length = input.count
        if alphabet == .standard {
            guard length % 4 == 0 else { return nil }
            var pads = 0
            while pads < 2, length > 0, input[length - 1] == UInt8(ascii: "=") {
                length -= 1
                pads += 1
            }
        }
        guard length % 4 != 1 else { return nil }
        let produced = length * 6 / 8
        guard output.count >= produced else { return nil }
        var accumulator: UInt32 = 0
        var bits = 0
        var written = 0
        for index in 0..<length {
            guard let value = self.value(of: input[index], alphabet) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output[written] = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
                written += 1
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Canonical encodings only: the unused low bits of the last symbol must be zero.
        guard accumulator == 0 else { return nil }
        return written
    }

    @inline(__always)
    static func symbol(_ value: UInt8, _ alphabet: Alphabet) -> UInt8 {
        switch value {
        case 0..<26: return UInt8(ascii: "A") + value
        case 26..<52: return UInt8(ascii: "a") + value - 26
        case 52..<62: return UInt8(ascii: "0") + value - 52
        case 62: return alphabet == .standard ? UInt8(ascii: "+") : UInt8(ascii: "-")
        default: return alphabet == .standard ? UInt8(ascii: "/") : UInt8(ascii: "_")
        }
    }

    @inline(__always)
    static func value(of character: UInt8, _ alphabet: Alphabet) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return alphabet == .standard ? 62 : nil
        case UInt8(ascii: "/"): return alphabet == .standard ? 63 : nil
        case UInt8(ascii: "-"): return alphabet == .urlSafeUnpadded ? 62 : nil
        case UInt8(ascii: "_"): return alphabet == .urlSafeUnpadded ? 63 : nil
        default: return nil
        }
    }
}

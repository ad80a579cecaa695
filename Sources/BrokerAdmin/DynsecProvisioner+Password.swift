import Glibc

extension DynsecProvisioner {
    /// A fresh device password: 24 bytes (192 bits) from the kernel's CSPRNG (glibc's
    /// `arc4random_buf`, seeded by `getrandom`), as 32 characters of unpadded base64url
    /// (`A–Z a–z 0–9 - _`), safe in URLs, shells, JSON and configuration files. Returned to the
    /// caller once; the broker stores only a salted hash.
    public static func generatePassword() -> String {
        var bytes = [UInt8](repeating: 0, count: 24)
        bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
        return base64URL(bytes)
    }

    /// Unpadded base64url (RFC 4648 §5).
    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i < bytes.count {
            let chunk = min(3, bytes.count - i)
            var value = UInt32(bytes[i]) << 16
            if chunk > 1 { value |= UInt32(bytes[i + 1]) << 8 }
            if chunk > 2 { value |= UInt32(bytes[i + 2]) }
            for k in 0...chunk { out.append(alphabet[Int((value >> UInt32(18 - 6 * k)) & 0x3F)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

import Glibc
import STUN

extension DynsecProvisioner {
    /// A fresh device password: 24 bytes (192 bits) from the kernel's CSPRNG (glibc's
    /// `arc4random_buf`, seeded by `getrandom`), as 32 characters of unpadded base64url
    /// (`A–Z a–z 0–9 - _`), safe in URLs, shells, JSON and configuration files. Returned to the
    /// caller once; the broker stores only a salted hash.
    public static func generatePassword() -> String {
        var bytes = [UInt8](repeating: 0, count: 24)
        bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
        return Base64.encode(bytes, .urlSafeUnpadded)
    }
}

import COpenSSL
import Glibc

/// The digests and randomness the provisioning store needs, from libcrypto.
enum ProvisioningCrypto {
    /// MD5 as 32 lowercase hex digits (the TURN long-term key).
    static func md5Hex(_ bytes: [UInt8]) -> String { digestHex(bytes, EVP_md5(), length: 16) }

    /// SHA-256 as 64 lowercase hex digits.
    static func sha256Hex(_ bytes: [UInt8]) -> String { digestHex(bytes, EVP_sha256(), length: 32) }

    /// The TURN long-term key MD5(name ":" realm ":" password) as hex.
    static func turnKey(name: String, realm: String, password: String) -> String {
        md5Hex(Array("\(name):\(realm):\(password)".utf8))
    }

    /// `count` random bytes as lowercase hex, from the OpenSSL CSPRNG (glibc's `arc4random_buf`
    /// should `RAND_bytes` fail).
    static func randomHex(byteCount count: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBufferPointer { buffer in
            if RAND_bytes(buffer.baseAddress, Int32(buffer.count)) != 1 { arc4random_buf(buffer.baseAddress!, buffer.count) }
        }
        return hex(bytes)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func digestHex(_ bytes: [UInt8], _ algorithm: OpaquePointer?, length: Int) -> String {
        var output = [UInt8](repeating: 0, count: 64)
        var size: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &output, &size, algorithm, nil)
        }
        precondition(ok == 1 && Int(size) == length, "EVP_Digest failed")
        return hex(output.prefix(length))
    }
}

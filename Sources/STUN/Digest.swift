import COpenSSL

/// Hash functions used by STUN, backed by libcrypto's EVP interface.
@usableFromInline
enum DigestAlgorithm: Sendable {
    case md5, sha1, sha256

    /// Output size in bytes.
    @usableFromInline
    var length: Int {
        switch self {
        case .md5: return 16
        case .sha1: return 20
        case .sha256: return 32
        }
    }

    /// The libcrypto method table (static objects, never freed).
    var evp: OpaquePointer? {
        switch self {
        case .md5: return EVP_md5()
        case .sha1: return EVP_sha1()
        case .sha256: return EVP_sha256()
        }
    }
}

/// A streaming digest; owns one `EVP_MD_CTX` for its lifetime. Never copied, so the context
/// is freed exactly once.
struct DigestContext: ~Copyable {
    private let context: OpaquePointer?
    private var healthy: Bool
    let algorithm: DigestAlgorithm

    /// Starts a digest; failures surface as `finish` returning false.
    init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        self.context = EVP_MD_CTX_new()
        self.healthy = context != nil && EVP_DigestInit_ex(context, algorithm.evp, nil) == 1
    }

    /// Restarts the digest on the same context.
    mutating func reset() {
        healthy = context != nil && EVP_DigestInit_ex(context, algorithm.evp, nil) == 1
    }

    /// Feeds bytes.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard healthy, let base = bytes.baseAddress, bytes.count > 0 else { return }
        healthy = EVP_DigestUpdate(context, base, bytes.count) == 1
    }

    /// Writes `algorithm.length` bytes to `output`; false on any libcrypto failure.
    mutating func finish(into output: UnsafeMutableRawPointer) -> Bool {
        guard healthy else { return false }
        var size: UInt32 = 0
        let ok = EVP_DigestFinal_ex(context, output.assumingMemoryBound(to: UInt8.self), &size) == 1
        healthy = false
        return ok && Int(size) == algorithm.length
    }

    deinit {
        EVP_MD_CTX_free(context)
    }
}

/// Compares two equally long buffers without data-dependent early exit.
@usableFromInline
func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count {
        difference |= a[index] ^ b[index]
    }
    return difference == 0
}

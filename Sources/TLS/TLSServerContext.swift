import COpenSSL
import Glibc

/// A TLS configuration error: which file or setting, and OpenSSL's own reason.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ what: String) {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        description = reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))"
    }
}

/// What the certificate in use says about itself, for `ctl status`, metrics and the log.
public struct TLSCertificateInfo: Sendable, Equatable {
    /// The subject, RFC 2253 style (`CN=gw.example.org,O=…`).
    public var subject: String
    /// The issuer, same style.
    public var issuer: String
    /// Not valid after (Unix seconds).
    public var notAfter: Int64
    /// "ECDSA P-256", "RSA 2048", …
    public var keyType: String
    /// Certificates in the chain after the leaf.
    public var chainLength: Int

    /// Seconds until expiry at `now` (negative once expired).
    public func secondsLeft(now: Int64) -> Int64 { notAfter - now }
}

/// The TLS policy rtcgate serves TURN over TLS with: TLS 1.2 and 1.3 only, forward-secret AEAD
/// suites, no renegotiation, no compression, no server-side session cache (TLS 1.3 and 1.2
/// tickets still resume: they cost the server nothing). One certificate chain and key (ECDSA or
/// RSA) from PEM files. Immutable once made; a reload makes a new one.
public final class TLSServerContext: @unchecked Sendable {
    /// The default TLS 1.2 cipher list (TLS 1.3 suites are OpenSSL's: AES-GCM and ChaCha20).
    public static let defaultCipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    let context: OpaquePointer
    /// The certificate's description.
    public let certificate: TLSCertificateInfo
    /// The files it was loaded from.
    public let certificatePath: String, keyPath: String

    /// Loads and checks a certificate chain and its key; throws with the file and OpenSSL's
    /// reason when either cannot be used (missing, not PEM, key not matching, expired is
    /// allowed but reported by `certificate.notAfter`).
    public init(certificatePath: String, keyPath: String, cipherList: String = TLSServerContext.defaultCipherList) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new") }
        self.context = context
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        do throws(TLSError) {
            guard rtcgate_ssl_ctx_set_min_proto(context, TLS1_2_VERSION) == 1,
                  rtcgate_ssl_ctx_set_max_proto(context, TLS1_3_VERSION) == 1 else { throw TLSError("TLS versions") }
            rtcgate_ssl_ctx_harden(context)
            _ = rtcgate_ssl_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
            _ = rtcgate_ssl_ctx_set_session_cache_off(context)
            guard SSL_CTX_set_cipher_list(context, cipherList) == 1 else { throw TLSError("cipher-list \"\(cipherList)\"") }
            guard rtcgate_ssl_ctx_set_groups(context, "X25519:P-256:P-384") == 1 else { throw TLSError("key exchange groups") }
            guard access(certificatePath, R_OK) == 0 else { throw TLSError("cert \(certificatePath): \(String(cString: strerror(errno)))") }
            guard access(keyPath, R_OK) == 0 else { throw TLSError("pkey \(keyPath): \(String(cString: strerror(errno)))") }
            guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
                throw TLSError("cert \(certificatePath): not a PEM certificate chain")
            }
            guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else {
                let failure = TLSError("pkey \(keyPath): not a PEM private key")
                guard failure.description.contains("key values mismatch") else { throw failure }
                throw TLSError("pkey \(keyPath) does not match the certificate in \(certificatePath)")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError("pkey \(keyPath) does not match the certificate in \(certificatePath)")
            }
            guard let leaf = SSL_CTX_get0_certificate(context) else { throw TLSError("cert \(certificatePath): no certificate") }
            certificate = TLSCertificateInfo(subject: Self.name(X509_get_subject_name(leaf)), issuer: Self.name(X509_get_issuer_name(leaf)),
                                             notAfter: Self.unixTime(X509_get0_notAfter(leaf)), keyType: Self.keyType(leaf),
                                             chainLength: Int(rtcgate_ssl_ctx_get0_chain_count(context)))
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }

    deinit { SSL_CTX_free(context) }

    /// Whether the certificate names `host` (a DNS name, or an IP address literal) in its
    /// subjectAltName: what a browser checks against the `turns:` URL.
    public func covers(host: String) -> Bool {
        guard let leaf = SSL_CTX_get0_certificate(context) else { return false }
        if X509_check_ip_asc(leaf, host, 0) == 1 { return true }
        return X509_check_host(leaf, host, host.utf8.count, 0, nil) == 1
    }

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard rtcgate_x509_name_print(bio, name) >= 0 else { return "" }
        var text = [UInt8](repeating: 0, count: 1024)
        let n = BIO_read(bio, &text, Int32(text.count))
        return n > 0 ? String(decoding: text[0..<Int(n)], as: UTF8.self) : ""
    }

    private static func unixTime(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return Int64(timegm(&parts))
    }

    private static func keyType(_ leaf: OpaquePointer) -> String {
        guard let key = X509_get0_pubkey(leaf) else { return "unknown" }
        let bits = EVP_PKEY_get_bits(key)
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: return "RSA \(bits)"
        case EVP_PKEY_EC: return "ECDSA \(bits == 256 ? "P-256" : bits == 384 ? "P-384" : "\(bits)-bit")"
        case EVP_PKEY_ED25519: return "Ed25519"
        default: return "\(bits)-bit"
        }
    }
}

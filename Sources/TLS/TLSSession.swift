import COpenSSL
import Glibc
import Reactor

/// One accepted connection's TLS session (OpenSSL `SSL` on the non-blocking socket).
public final class TLSSession: StreamSession {
    private var ssl: OpaquePointer?
    public private(set) var renegotiationAttempted = false

    /// A server session on accepted socket `fd`; nil when OpenSSL cannot make one.
    public init?(context: TLSServerContext, fd: Int32) {
        guard let ssl = SSL_new(context.context) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return nil
        }
        self.ssl = ssl
        SSL_set_accept_state(ssl)
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
        rtcgate_ssl_set_msg_callback(ssl, tlsRecordCallback)
    }

    deinit { shutdown() }

    public func handshake() -> StreamSecurityResult {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        return rc == 1 ? .done(0) : outcome(rc)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamSecurityResult {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        return n > 0 ? .done(Int(n)) : outcome(n)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> StreamSecurityResult {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let n = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        return n > 0 ? .done(Int(n)) : outcome(n)
    }

    /// With read-ahead, whole records wait inside OpenSSL too (SSL_pending counts only a
    /// record already decrypted), where epoll cannot see them.
    public var hasBufferedPlaintext: Bool { ssl.map { SSL_has_pending($0) == 1 } ?? false }

    public func shutdown() {
        guard let ssl else { return }
        self.ssl = nil
        SSL_set_ex_data(ssl, 0, nil)
        SSL_free(ssl)  // no close_notify: the record closes the socket (RFC 8446 allows it)
    }

    fileprivate func noteHandshakeStart() { renegotiationAttempted = true }

    private func outcome(_ rc: Int32) -> StreamSecurityResult {
        guard let ssl else { return .failed }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where errno == EINTR: return .wantRead
        default: return .failed
        }
    }
}

/// A handshake record read after the handshake completed is a renegotiation request (TLS 1.2;
/// TLS 1.3 hides record types, and has no renegotiation). OpenSSL refuses it
/// (`SSL_OP_NO_RENEGOTIATION`); the connection is then closed and counted.
private let tlsRecordCallback: @convention(c) (Int32, Int32, Int32, UnsafeRawPointer?, Int, OpaquePointer?, UnsafeMutableRawPointer?) -> Void = {
    written, _, contentType, buffer, length, ssl, _ in
    guard written == 0, contentType == SSL3_RT_HEADER, let buffer, length >= 1, let ssl,
          buffer.load(as: UInt8.self) == UInt8(SSL3_RT_HANDSHAKE), SSL_is_init_finished(ssl) == 1,
          let session = SSL_get_ex_data(ssl, 0) else { return }
    Unmanaged<TLSSession>.fromOpaque(session).takeUnretainedValue().noteHandshakeStart()
}

import CBenchShim
import COpenSSL
import Glibc

/// The bench's TLS client settings: no certificate check unless `--ca`, no session resumption
/// (no tickets, no client cache), so every connection pays a full handshake.
final class TLSClientContext {
    let context: OpaquePointer

    /// - Parameters:
    ///   - caFile: PEM CA the server certificate must chain to (nil: accept any certificate).
    ///   - version: "1.2", "1.3" or nil (negotiate 1.2 or 1.3).
    init(caFile: String?, version: String?) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw BenchError("SSL_CTX_new failed") }
        self.context = context
        let low = version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION
        let high = version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION
        guard rtcgate_ssl_ctx_set_min_proto(context, low) == 1, rtcgate_ssl_ctx_set_max_proto(context, high) == 1 else {
            throw BenchError("cannot restrict TLS versions")
        }
        _ = SSL_CTX_set_options(context, UInt64(1) << 14)  // SSL_OP_NO_TICKET (a macro Swift cannot import)
        _ = rtcgate_ssl_ctx_set_session_cache_off(context)
        // Read whole socket buffers, not a record header and then its body.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_READ_AHEAD, 1, nil)
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else { throw BenchError("--ca \(caFile): not a PEM CA file") }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
    }

    deinit { SSL_CTX_free(context) }
}

/// One client connection over TCP, or TLS over TCP, carrying STUN and ChannelData framed back
/// to back (RFC 8656 §12.5). Non-blocking. With TLS, records are written into a memory BIO and
/// sent in one `send` per `flush`, so a batch of messages costs one syscall but each message is
/// still its own record, as a browser writes them; reads go straight to the socket.
final class StreamLink {
    let fd: Int32
    private var ssl: OpaquePointer?
    private var memoryOut: OpaquePointer?
    /// Bytes (ciphertext with TLS) waiting for the socket.
    private var out: UnsafeMutableRawPointer
    private var outCapacity: Int
    private var outStart = 0
    private var outEnd = 0
    /// Received plaintext; frames are taken from its start.
    let inbound: UnsafeMutableRawPointer
    static let inboundCapacity = 1 << 16
    private var inStart = 0
    private var inEnd = 0
    /// The last `receive` stopped because `inbound` was full: call it again after taking frames.
    private(set) var mayHaveMore = false

    /// Takes ownership of the connected (or connecting) stream socket `fd`.
    init(fd: Int32, tls: TLSClientContext?) throws {
        self.fd = fd
        outCapacity = 1 << 16
        out = .allocate(byteCount: outCapacity, alignment: 16)
        inbound = .allocate(byteCount: Self.inboundCapacity, alignment: 16)
        guard let tls else { return }
        guard let ssl = SSL_new(tls.context), let socketBIO = BIO_new_socket(fd, BIO_NOCLOSE),
              let memoryBIO = BIO_new(BIO_s_mem()) else {
            throw BenchError("cannot make a TLS client session")
        }
        SSL_set_bio(ssl, socketBIO, memoryBIO)
        SSL_set_connect_state(ssl)
        self.ssl = ssl
        memoryOut = memoryBIO
    }

    deinit {
        if let ssl { SSL_free(ssl) }
        close(fd)
        out.deallocate(); inbound.deallocate()
    }

    var isTLS: Bool { ssl != nil }
    var hasPendingOutput: Bool { outStart < outEnd }

    /// "TLSv1.3 TLS_AES_256_GCM_SHA384" once the handshake is done ("tcp" without TLS).
    var protocolDescription: String {
        guard let ssl else { return "tcp" }
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "?"
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "?"
        return "\(version) \(cipher)"
    }

    /// Grows the output buffer to hold at least `bytes` (call before the load starts).
    func reserveOutput(_ bytes: Int) {
        guard bytes > outCapacity else { return }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        bigger.copyMemory(from: out + outStart, byteCount: outEnd - outStart)
        out.deallocate()
        out = bigger
        outEnd -= outStart
        outStart = 0
        outCapacity = bytes
    }

    /// Outcome of one non-blocking step.
    enum Step: Equatable { case done, wantRead, wantWrite, failed(String) }

    /// Advances the TLS handshake (plain TCP: done at once), sending what it produced.
    func handshakeStep() -> Step {
        guard let ssl else { return .done }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        moveRecords()
        if case .failed(let why) = flush() { return .failed(why) }
        if rc == 1 { return hasPendingOutput ? .wantWrite : .done }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ: return hasPendingOutput ? .wantWrite : .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default: return .failed("TLS handshake failed: \(Self.openSSLReason())")
        }
    }

    /// Runs the handshake to completion, waiting with poll; bounded by `deadline`.
    func handshake(deadline: UInt64) throws {
        while true {
            let step = handshakeStep()
            switch step {
            case .done: return
            case .failed(let why): throw BenchError(why)
            case .wantRead, .wantWrite:
                let now = monotonicNanos()
                guard now < deadline else { throw BenchError("TLS handshake timed out") }
                var pfd = pollfd(fd: fd, events: Int16(step == .wantRead ? POLLIN : POLLOUT), revents: 0)
                _ = poll(&pfd, 1, Int32(max(1, min((deadline - now) / 1_000_000, 1000))))
            }
        }
    }

    /// Queues one message (one TLS record); false when it does not fit or TLS failed.
    @discardableResult
    func enqueue(_ p: UnsafeRawPointer, count: Int) -> Bool {
        if let ssl {
            ERR_clear_error()
            guard SSL_write(ssl, p, Int32(count)) == Int32(count) else { return false }
            return moveRecords()
        }
        compactOutput(room: count)
        guard outCapacity - outEnd >= count else { return false }
        (out + outEnd).copyMemory(from: p, byteCount: count)
        outEnd += count
        return true
    }

    /// Sends queued bytes until the socket refuses more: `.done` when all went, `.wantWrite`
    /// when some wait (poll for POLLOUT), `.failed` on a socket error.
    @discardableResult
    func flush() -> Step {
        while outStart < outEnd {
            let n = send(fd, out + outStart, outEnd - outStart, Int32(MSG_NOSIGNAL))
            if n > 0 { outStart += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .wantWrite }
            return .failed("send: \(String(cString: strerror(errno)))")
        }
        outStart = 0
        outEnd = 0
        return .done
    }

    /// Outcome of `receive`.
    enum Received { case data, wouldBlock, closed, failed(String) }

    /// Reads what the socket holds (decrypting it) into `inbound` after the frames not yet taken.
    func receive() -> Received {
        if inStart > 0 {
            if inStart < inEnd { inbound.copyMemory(from: inbound + inStart, byteCount: inEnd - inStart) }
            inEnd -= inStart
            inStart = 0
        }
        var got = false
        mayHaveMore = false
        while true {
            guard inEnd < Self.inboundCapacity else { mayHaveMore = true; break }
            if let ssl {
                ERR_clear_error()
                let n = SSL_read(ssl, inbound + inEnd, Int32(Self.inboundCapacity - inEnd))
                if n > 0 { inEnd += Int(n); got = true; continue }
                let error = SSL_get_error(ssl, n)
                moveRecords()  // a KeyUpdate answer, if any
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { break }
                if error == SSL_ERROR_ZERO_RETURN { return got ? .data : .closed }
                if error == SSL_ERROR_SYSCALL && n == 0 { return got ? .data : .closed }
                return .failed("TLS read: \(Self.openSSLReason())")
            }
            let n = recv(fd, inbound + inEnd, Self.inboundCapacity - inEnd, Int32(MSG_DONTWAIT))
            if n > 0 { inEnd += n; got = true; continue }
            if n == 0 { return got ? .data : .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { break }
            return .failed("recv: \(String(cString: strerror(errno)))")
        }
        return got ? .data : .wouldBlock
    }

    /// The next whole frame in `inbound` (STUN: header + body; ChannelData: header + body padded
    /// to 4), taken off the buffer; nil when incomplete, `invalid` when the first byte is
    /// neither (the stream cannot be resynchronised).
    func nextFrame(invalid: inout Bool) -> (start: UnsafeMutableRawPointer, count: Int)? {
        let available = inEnd - inStart
        guard available >= 4 else { return nil }
        let p = inbound + inStart
        let length = Int(StunWire.loadBE16(p, 2))
        let total: Int
        switch p.load(as: UInt8.self) & 0xC0 {
        case 0x00: total = StunWire.headerSize + length
        case 0x40: total = 4 + ((length + 3) & ~3)
        default: invalid = true; return nil
        }
        guard available >= total else { return nil }
        inStart += total
        return (p, total)
    }

    /// Moves records from the memory BIO into the output buffer; false if they do not fit.
    @discardableResult
    private func moveRecords() -> Bool {
        guard let memoryOut else { return true }
        while true {
            let pending = Int(BIO_ctrl_pending(memoryOut))
            if pending == 0 { return true }
            compactOutput(room: pending)
            let room = outCapacity - outEnd
            guard room > 0 else { return false }
            let n = BIO_read(memoryOut, out + outEnd, Int32(min(room, pending)))
            guard n > 0 else { return false }
            outEnd += Int(n)
        }
    }

    private func compactOutput(room: Int) {
        guard outCapacity - outEnd < room, outStart > 0 else { return }
        (out).copyMemory(from: out + outStart, byteCount: outEnd - outStart)
        outEnd -= outStart
        outStart = 0
    }

    /// OpenSSL's error queue as text (or "connection closed").
    static func openSSLReason() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        if reasons.isEmpty { return errno != 0 ? String(cString: strerror(errno)) : "connection closed" }
        return reasons.joined(separator: "; ")
    }
}

extension ServerEndpoint {
    /// A connected TCP socket (connect waited for, at most until `deadline`) wrapped in a link,
    /// TLS when `tls` is given (its handshake is still to be done).
    func streamLink(tls: TLSClientContext?, deadline: UInt64) throws -> StreamLink {
        let (fd, _) = try connectedSocket(type: Int32(SOCK_STREAM.rawValue))
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let now = monotonicNanos()
        let wait = Int32(deadline > now ? max(1, min((deadline - now) / 1_000_000, 60_000)) : 1)
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard poll(&pfd, 1, wait) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0, soError == 0 else {
            close(fd)
            throw BenchError("TCP connect to \(text) failed: \(String(cString: strerror(soError == 0 ? ETIMEDOUT : soError)))")
        }
        return try StreamLink(fd: fd, tls: tls)
    }
}

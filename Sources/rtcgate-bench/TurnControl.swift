import CBenchShim
import CSystem
import Glibc
import STUN

/// Long-term credentials shared by every allocation of a run, plus the REALM/NONCE learnt
/// from the server (cached across allocations: a server that binds nonces to the client IP,
/// like rtcgate, then challenges only the first Allocate; one that binds them to the 5-tuple,
/// like coturn, answers 401/438 with a fresh nonce and the request is simply repeated).
final class TurnCredentials {
    let username: [UInt8]
    let password: String
    /// The realm the operator expects (`--realm`); the server's REALM must equal it.
    let expectedRealm: String?
    private(set) var realm: [UInt8] = []
    private(set) var nonce: [UInt8] = []
    private(set) var key: [UInt8] = []

    init(username: String, password: String, realm: String?) {
        self.username = Array(username.utf8)
        self.password = password
        self.expectedRealm = realm
    }

    var hasNonce: Bool { !nonce.isEmpty }

    /// Takes REALM (nil: keep the known one) and NONCE from a 401/438 answer; recomputes the
    /// key when the realm changes.
    func learn(realm newRealm: UnsafeRawBufferPointer?, nonce newNonce: UnsafeRawBufferPointer) throws {
        let n = Array(newNonce)
        guard !n.isEmpty else { throw BenchError("server challenge carries an empty NONCE") }
        guard let newRealm else {
            guard !realm.isEmpty else { throw BenchError("server challenge without REALM") }
            nonce = n
            return
        }
        let r = Array(newRealm)
        if r != realm {
            let text = String(decoding: r, as: UTF8.self)
            if let expectedRealm, expectedRealm != text {
                throw BenchError("server REALM is '\(text)', not --realm '\(expectedRealm)'")
            }
            realm = r
            key = LongTermKey.md5(username: String(decoding: username, as: UTF8.self), realm: text, password: password)
            guard key.count == LongTermKey.md5Length else { throw BenchError("MD5 long-term key failed") }
        }
        nonce = n
    }

    /// Appends USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (must come last but for FINGERPRINT).
    func authenticate(_ b: inout StunMessageBuilder) throws {
        try append(&b, .username, username)
        try append(&b, .realm, realm)
        try append(&b, .nonce, nonce)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: key.count, alignment: 8)
        defer { scratch.deallocate() }
        scratch.copyBytes(from: key)
        try b.appendMessageIntegrity(key: UnsafeRawBufferPointer(scratch))
    }

    /// Appends one attribute from an array (copied to a raw buffer: no typed-throws closures,
    /// which crash the 6.3 optimizer here).
    private func append(_ b: inout StunMessageBuilder, _ type: AttributeType, _ value: [UInt8]) throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(value.count, 1), alignment: 8)
        defer { scratch.deallocate() }
        scratch.copyBytes(from: value)
        try b.append(type, bytes: UnsafeRawBufferPointer(rebasing: scratch[0..<value.count]))
    }

    func verify(_ view: StunMessageView) -> Bool {
        key.withUnsafeBytes { view.verifyMessageIntegrity(key: $0) }
    }
}

/// One TURN client 5-tuple on the control plane: Allocate (with the long-term credential
/// dance), ChannelBind / CreatePermission, Refresh(0). Blocking request/response with
/// retransmission, every wait bounded by `timeoutNanos`. Uses rtcgate's own STUN module for
/// encoding and MESSAGE-INTEGRITY (set-up only: the measured data path does not). Over TCP or
/// TLS (`link`) a request is sent once and answers are framed out of the stream.
struct TurnControl {
    let fd: Int32
    let index: Int
    var link: StreamLink? = nil
    var relayed: TransportAddress?
    var allocated = false

    /// Shared scratch for requests and answers (one client talks at a time).
    final class Scratch {
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 8)
        let answer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 8)
        deinit { request.deallocate(); answer.deallocate() }
    }

    /// What a transaction ended with, when it did not succeed.
    struct Failure: Error, CustomStringConvertible {
        var code: Int?
        var description: String
    }

    /// Sends a request of `method` (attributes from `attributes`, then the credentials when
    /// `authenticated`), follows up to three 401/438 challenges, and returns the success answer's size.
    @discardableResult
    func transact(_ method: StunMethod, authenticated: Bool, credentials: TurnCredentials, scratch: Scratch,
                  timeoutNanos: UInt64,
                  attributes: (inout StunMessageBuilder) throws(StunBuildError) -> Void) throws -> Int {
        for _ in 0..<4 {
            let txid = TransactionID.random()
            var b = try StunMessageBuilder(into: scratch.request,
                                           type: StunMessageType(method: method, messageClass: .request),
                                           transactionID: txid)
            try attributes(&b)
            if authenticated && credentials.hasNonce { try credentials.authenticate(&b) }
            let size = try exchange(scratch.request.baseAddress!, count: b.count, txid: txid, scratch: scratch,
                                    timeoutNanos: timeoutNanos, what: "\(method)")
            let view = try StunMessageView(UnsafeRawBufferPointer(rebasing: scratch.answer[0..<size]))
            if view.type.messageClass == .successResponse {
                if authenticated && !credentials.verify(view) {
                    throw Failure(description: "allocation \(index): \(method) success response with a missing or wrong MESSAGE-INTEGRITY")
                }
                return size
            }
            guard view.type.messageClass == .errorResponse, let error = view.errorCode else {
                throw Failure(description: "allocation \(index): \(method) answered by an unexpected \(view.type.messageClass) message")
            }
            if authenticated && (error.code == 401 || error.code == 438), let nonce = view.nonce {
                try credentials.learn(realm: view.realm, nonce: nonce)  // 438 may omit REALM
                continue
            }
            throw Failure(code: error.code, description: "allocation \(index): \(method) failed: \(error.code) \(String(decoding: error.reason, as: UTF8.self))")
        }
        throw Failure(code: 401, description: "allocation \(index): \(method) still refused with 401/438 after three fresh nonces (wrong --user or --password?)")
    }

    /// Sends `count` bytes and waits for the answer with the same transaction id
    /// (retransmitted every 200 ms); returns its size in `scratch.answer`.
    private func exchange(_ p: UnsafeMutableRawPointer, count: Int, txid: TransactionID, scratch: Scratch,
                          timeoutNanos: UInt64, what: String) throws -> Int {
        let start = monotonicNanos()
        let deadline = start + timeoutNanos
        var nextSend = start
        var wanted = [UInt8](repeating: 0, count: 12)
        wanted.withUnsafeMutableBytes { txid.write(to: $0, at: 0) }
        if let link {
            return try exchange(over: link, p, count: count, wanted: wanted, scratch: scratch, deadline: deadline, what: what)
        }
        while true {
            var now = monotonicNanos()
            if now >= deadline { throw Failure(description: "allocation \(index): no answer to \(what) within \(timeoutNanos / 1_000_000) ms") }
            if now >= nextSend {
                let sent = send(fd, p, count, 0)
                if sent < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED {
                    throw BenchError.posix("allocation \(index): send \(what)")
                }
                nextSend = now + 200_000_000
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let waitMs = Int32((min(nextSend, deadline) - now + 999_999) / 1_000_000)
            _ = poll(&pfd, 1, max(1, waitMs))
            while true {
                let got = recv(fd, scratch.answer.baseAddress, scratch.answer.count, Int32(MSG_DONTWAIT))
                if got < 0 { break }  // EAGAIN, or ECONNREFUSED (no server yet): keep waiting
                guard got >= 20 else { continue }
                let matches = wanted.withUnsafeBytes { memcmp($0.baseAddress!, scratch.answer.baseAddress! + 8, 12) == 0 }
                if matches { return got }
            }
            now = monotonicNanos()
        }
    }

    /// The stream variant of `exchange`: one send, then frames until the answer (others, such
    /// as ChannelData still in flight from a load, are skipped).
    private func exchange(over link: StreamLink, _ p: UnsafeMutableRawPointer, count: Int, wanted: [UInt8], scratch: Scratch,
                          deadline: UInt64, what: String) throws -> Int {
        guard link.enqueue(p, count: count) else { throw Failure(description: "allocation \(index): cannot queue \(what)") }
        while true {
            if case .failed(let why) = link.flush() { throw Failure(description: "allocation \(index): \(what): \(why)") }
            var invalid = false
            while let frame = link.nextFrame(invalid: &invalid) {
                guard frame.count >= 20, frame.start.load(as: UInt8.self) & 0xC0 == 0 else { continue }
                let matches = wanted.withUnsafeBytes { memcmp($0.baseAddress!, frame.start + 8, 12) == 0 }
                guard matches else { continue }
                guard frame.count <= scratch.answer.count else {
                    throw Failure(description: "allocation \(index): \(what) answer of \(frame.count) bytes")
                }
                scratch.answer.baseAddress!.copyMemory(from: frame.start, byteCount: frame.count)
                return frame.count
            }
            if invalid { throw Failure(description: "allocation \(index): unframeable bytes from the server") }
            let now = monotonicNanos()
            guard now < deadline else { throw Failure(description: "allocation \(index): no answer to \(what) within the timeout") }
            var pfd = pollfd(fd: link.fd, events: Int16(POLLIN) | (link.hasPendingOutput ? Int16(POLLOUT) : 0), revents: 0)
            _ = poll(&pfd, 1, Int32(max(1, min((deadline - now) / 1_000_000, 1000))))
            switch link.receive() {
            case .closed: throw Failure(description: "allocation \(index): server closed the connection during \(what)")
            case .failed(let why): throw Failure(description: "allocation \(index): \(what): \(why)")
            case .data, .wouldBlock: break
            }
        }
    }

    /// Allocate (UDP relay).
    mutating func allocate(credentials: TurnCredentials, scratch: Scratch, timeoutNanos: UInt64) throws {
        let size = try transact(.allocate, authenticated: true, credentials: credentials, scratch: scratch,
                                timeoutNanos: timeoutNanos) { (b) throws(StunBuildError) in
            try b.appendUInt32(.requestedTransport, 17 << 24)
        }
        let view = try StunMessageView(UnsafeRawBufferPointer(rebasing: scratch.answer[0..<size]))
        guard let relayed = view.xorAddress(.xorRelayedAddress) else {
            throw Failure(description: "allocation \(index): Allocate success without XOR-RELAYED-ADDRESS")
        }
        self.relayed = relayed
        allocated = true
    }

    /// ChannelBind `channel` to `peer`.
    func channelBind(_ channel: UInt16, peer: TransportAddress, credentials: TurnCredentials, scratch: Scratch,
                     timeoutNanos: UInt64) throws {
        try transact(.channelBind, authenticated: true, credentials: credentials, scratch: scratch,
                     timeoutNanos: timeoutNanos) { (b) throws(StunBuildError) in
            try b.appendUInt32(.channelNumber, UInt32(channel) << 16)
            try b.appendXorAddress(.xorPeerAddress, peer)
        }
    }

    /// CreatePermission for `peer`'s IP.
    func createPermission(peer: TransportAddress, credentials: TurnCredentials, scratch: Scratch,
                          timeoutNanos: UInt64) throws {
        try transact(.createPermission, authenticated: true, credentials: credentials, scratch: scratch,
                     timeoutNanos: timeoutNanos) { (b) throws(StunBuildError) in
            try b.appendXorAddress(.xorPeerAddress, peer)
        }
    }

    /// Refresh with LIFETIME 0: deletes the allocation.
    mutating func delete(credentials: TurnCredentials, scratch: Scratch, timeoutNanos: UInt64) throws {
        guard allocated else { return }
        try transact(.refresh, authenticated: true, credentials: credentials, scratch: scratch,
                     timeoutNanos: timeoutNanos) { (b) throws(StunBuildError) in
            try b.appendUInt32(.lifetime, 0)
        }
        allocated = false
    }
}

import Foundation
import Glibc
import JSON
import Reactor
import TestSupport
import XCTest

@testable import Control

/// Answers by command: `echo` returns its args, `later` holds the reply, `fail` is not-found,
/// `big` returns `n` bytes of text; anything else is unknown-command.
final class StubHandler: ControlCommandHandler {
    var held: [(ControlResponse) -> Void] = []
    var peers: [ControlPeer] = []

    func handle(_ request: ControlRequest, peer: ControlPeer, reply: @escaping (ControlResponse) -> Void) {
        peers.append(peer)
        switch request.command {
        case "echo": reply(.ok(request.id, request.args))
        case "later": held.append(reply)
        case "fail": reply(.error(request.id, .notFound, "nothing here"))
        case "big": reply(.ok(request.id, .string(String(repeating: "x", count: request.args["n"]?.intValue ?? 0))))
        default: reply(.error(request.id, .unknownCommand, "no command \(request.command)"))
        }
    }
}

/// A raw client socket for driving the server from the test thread (which also runs its loop).
final class RawClient {
    let fd: Int32
    private var buffered: [UInt8] = []
    private(set) var sawEOF = false

    init(path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        let address = SocketAddress(unixPath: path)!
        precondition(address.withSockAddr { connect(fd, $0, $1) } == 0, "connect: \(errno)")
    }

    deinit { close(fd) }

    func write(_ text: String) { write(Array(text.utf8)) }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n } else { return }
        }
    }

    /// Reads what is available without blocking.
    func pump() {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { buffered += chunk[0..<n]; continue }
            if n == 0 || (errno != EAGAIN && errno != EINTR) { sawEOF = true }
            return
        }
    }

    /// The next line, running `loop` until it arrives (nil after five seconds; the caller's
    /// assertion on it fails then).
    func readLine(_ loop: EventLoop) -> String? {
        _ = holds(within: 5, loop: loop) { pump(); return buffered.contains(0x0A) }
        guard let newline = buffered.firstIndex(of: 0x0A) else { return nil }
        let line = String(decoding: buffered[...newline], as: UTF8.self)
        buffered.removeSubrange(...newline)
        return line
    }

    /// The next response, parsed.
    func response(_ loop: EventLoop) -> ControlResponse? {
        guard let line = readLine(loop) else { return nil }
        return try? ControlResponse.parse(Array(line.utf8))
    }

    /// The next line when the server runs on another thread (waits with poll, at most 2 s).
    func blockingReadLine() -> String? {
        let deadline = MonotonicClock.now() + 2_000_000_000
        while !buffered.contains(0x0A) && !sawEOF && MonotonicClock.now() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 50)
            pump()
        }
        guard let newline = buffered.firstIndex(of: 0x0A) else { return nil }
        defer { buffered.removeSubrange(...newline) }
        return String(decoding: buffered[...newline], as: UTF8.self)
    }

    /// Runs `loop` until the server closes this connection.
    func waitForClose(_ loop: EventLoop) -> Bool {
        holds(within: 5, loop: loop) { pump(); return sawEOF }
    }
}

import CSystem
import Glibc
import Paths
import Reactor

/// Measures the links from this relay to the other relays of the cluster (docs/paths.md): a STUN
/// Binding request to each one's STUN address at most once per `intervalMs` (jittered ±20 %, so
/// the probes of many instances do not line up), answered by the peer's ordinary STUN responder.
/// Round-trip times and losses go into a fixed ``ProbeWindow`` per peer; a probe not answered
/// within 2 s is lost. One UDP socket on the main loop, fixed buffers: no allocation per probe.
/// With no peers there is no timer and no traffic.
package final class RelayProber: EventHandler, TimerHandler {
    package struct Target {
        /// Stable for the target's life (its place in `targets` changes as relays come and go):
        /// the probes' transaction ids carry it.
        package var id: UInt32
        package var name: String
        package var address: SocketAddress
        package var window = ProbeWindow()
        var nextSendNanos: UInt64 = 0
        var outstanding: UInt32?  // sequence of the probe in flight
        var sentNanos: UInt64 = 0
        var sequence: UInt32 = 0
    }

    package private(set) var targets: [Target] = []
    package private(set) var probesSent: UInt64 = 0
    package private(set) var probesAnswered: UInt64 = 0
    package private(set) var probesLost: UInt64 = 0
    /// Datagrams on the probe socket that are not an answer to a probe in flight (dropped).
    package private(set) var strayDatagrams: UInt64 = 0
    package let capacity: Int
    /// Called after each probe is answered or given up (on the main loop).
    package var onSample: (() -> Void)?
    private let loop: EventLoop
    private let fd: Int32
    private var registration: Registration?
    private let intervalNanos: UInt64
    private static let timeoutNanos: UInt64 = 2_000_000_000
    private var timer: TimerID?
    private var timerDeadline: UInt64 = .max
    private let salt: UInt32
    private var nextTargetID: UInt32 = 0
    private var random = SystemRandomNumberGenerator()
    private let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 20, alignment: 4)
    private let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1_500, alignment: 4)

    /// Binds the probe socket to `local` (the relay's listening address, any port).
    package init(loop: EventLoop, local: SocketAddress, capacity: Int, intervalMs: UInt64) throws(SystemError) {
        self.loop = loop
        self.capacity = capacity
        intervalNanos = intervalMs * 1_000_000
        salt = UInt32.random(in: 0...UInt32.max)
        fd = socket(Int32(local.family), Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        let bound = local.withPort(0).withSockAddr { bind(fd, $0, $1) }
        guard bound == 0 else {
            let error = SystemError("bind \(local.host)")
            close(fd)
            throw error
        }
        registration = try loop.register(fd: fd, events: EPOLLIN.rawValue, handler: self)
    }

    deinit {
        sendBuffer.deallocate()
        receiveBuffer.deallocate()
    }

    /// The probe socket's port (other relays see probes come from it).
    package var localPort: UInt16 {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return SocketAddress(storage: address, length: length).port
    }

    package func stop() {
        if let timer { loop.timers.cancel(timer) }
        timer = nil
        if let registration { loop.deregister(registration) }
        registration = nil
        close(fd)
    }

    /// The peers to probe (name, STUN address). Windows of peers that stay are kept; beyond
    /// `capacity`, the rest are not probed.
    package func setTargets(_ peers: [(name: String, address: SocketAddress)]) {
        var next: [Target] = []
        for peer in peers.prefix(capacity) {
            if var kept = targets.first(where: { $0.name == peer.name }) {
                kept.address = peer.address
                next.append(kept)
            } else {
                nextTargetID &+= 1
                var target = Target(id: nextTargetID, name: peer.name, address: peer.address)
                target.nextSendNanos = MonotonicClock.now() + UInt64.random(in: 0...intervalNanos, using: &random)
                next.append(target)
            }
        }
        targets = next
        arm()
    }

    /// What each peer's window says (peers not yet answered are left out).
    package var estimates: [(to: String, estimate: LinkEstimate)] {
        targets.compactMap { target in target.window.estimate.map { (target.name, $0) } }
    }

    // MARK: probes

    private func send(_ index: Int, now: UInt64) {
        targets[index].sequence &+= 1
        let sequence = targets[index].sequence
        // Binding request: type, length 0, magic cookie, transaction id = salt, target id, sequence.
        let header: [UInt32] = [0x0001_0000, 0x2112_A442, salt, targets[index].id, sequence]
        for (i, word) in header.enumerated() { sendBuffer.storeBytes(of: word.bigEndian, toByteOffset: i * 4, as: UInt32.self) }
        let sent = targets[index].address.withSockAddr { sendto(fd, sendBuffer.baseAddress, 20, Int32(MSG_DONTWAIT), $0, $1) }
        probesSent &+= 1
        targets[index].sentNanos = now
        targets[index].outstanding = sent == 20 ? sequence : nil
        if sent != 20 {  // unreachable right now: as good as lost
            targets[index].window.lost()
            probesLost &+= 1
        }
        let jitter = intervalNanos / 5
        targets[index].nextSendNanos = now + intervalNanos - jitter + UInt64.random(in: 0...(2 * jitter), using: &random)
    }

    package func handleEvents(_ events: UInt32, loop: EventLoop) {
        for _ in 0..<64 {
            let received = recv(fd, receiveBuffer.baseAddress, receiveBuffer.count, Int32(MSG_DONTWAIT))
            guard received >= 0 else { break }
            let now = MonotonicClock.now()
            guard received >= 20,
                  receiveBuffer.loadUnaligned(fromByteOffset: 0, as: UInt16.self).bigEndian == 0x0101,
                  receiveBuffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self).bigEndian == 0x2112_A442,
                  receiveBuffer.loadUnaligned(fromByteOffset: 8, as: UInt32.self).bigEndian == salt else {
                strayDatagrams &+= 1
                continue
            }
            let id = receiveBuffer.loadUnaligned(fromByteOffset: 12, as: UInt32.self).bigEndian
            let sequence = receiveBuffer.loadUnaligned(fromByteOffset: 16, as: UInt32.self).bigEndian
            guard let index = targets.firstIndex(where: { $0.id == id }), targets[index].outstanding == sequence else {
                strayDatagrams &+= 1  // late (already counted lost) or forged
                continue
            }
            targets[index].outstanding = nil
            targets[index].window.answered(rttMicros: Int64((now - targets[index].sentNanos) / 1_000))
            probesAnswered &+= 1
            onSample?()
        }
        arm()  // the next probe of an answered peer may be due before the armed time-out
    }

    package func timerFired(context: UInt64, now: UInt64) {
        timer = nil
        timerDeadline = .max
        for index in targets.indices {
            if targets[index].outstanding != nil && now >= targets[index].sentNanos + Self.timeoutNanos {
                targets[index].outstanding = nil
                targets[index].window.lost()
                probesLost &+= 1
                onSample?()
            }
            if targets[index].outstanding == nil && now >= targets[index].nextSendNanos { send(index, now: now) }
        }
        arm()
    }

    /// One timer, at the earliest probe or time-out due.
    private func arm() {
        var due = UInt64.max
        for target in targets {
            due = min(due, target.outstanding != nil ? target.sentNanos + Self.timeoutNanos : target.nextSendNanos)
        }
        guard due != .max, registration != nil else { return }
        let at = max(due, MonotonicClock.now() + 1_000_000)
        guard timer == nil || at < timerDeadline else { return }
        if let timer { loop.timers.cancel(timer) }
        timer = loop.timers.schedule(at: at, handler: self)
        timerDeadline = timer == nil ? .max : at
    }
}

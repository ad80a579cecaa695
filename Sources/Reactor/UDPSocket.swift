import CSystem
import Glibc

/// A non-blocking UDP socket that moves datagrams in batches with recvmmsg/sendmmsg.
public final class UDPSocket {
    /// The descriptor; owned by this object and closed on deinit.
    public let fd: Int32
    /// The address the socket is bound to (with the kernel-chosen port when 0 was asked).
    public let localAddress: SocketAddress
    /// Whether batches leave with UDP generic segmentation (see `SegmentRuns`); asked
    /// for at creation, off when the kernel lacks it, turned off when the route's device refuses.
    public internal(set) var segmentation: Bool
    /// Runs the kernel refused in a row on this socket; at `refusalLimit` segmentation is
    /// turned off.
    private var refusedRuns = 0
    static let refusalLimit = 16
    /// The kernel's receive and send buffer sizes for this socket (what `getsockopt` reports:
    /// the kernel doubles a request for its bookkeeping).
    public private(set) var receiveBufferBytes: Int
    public private(set) var sendBufferBytes: Int
    /// Whether a buffer request was capped by `net.core.rmem_max`/`wmem_max` (the process may
    /// not force it: SO_RCVBUFFORCE needs CAP_NET_ADMIN).
    public private(set) var bufferCapped: Bool
    /// Whether the kernel reports this socket's drops with each datagram (SO_RXQ_OVFL).
    let countsKernelDrops: Bool
    /// Datagrams the kernel dropped because this socket's receive buffer was full, as of the
    /// last datagram received.
    public private(set) var kernelDrops: UInt64 = 0
    private var lastDropCounter: UInt32 = 0
    private var reportedKernelDrops: UInt64 = 0

    /// Kernel drops counted since the last call: the owner adds them to its own counters after
    /// each receive (drops only change when a datagram arrives), so nothing has to walk its
    /// sockets to total them.
    public func takeNewKernelDrops() -> UInt64 {
        defer { reportedKernelDrops = kernelDrops }
        return kernelDrops &- reportedKernelDrops
    }

    /// Creates, configures and binds a socket.
    /// - Parameters:
    ///   - reusePort: SO_REUSEPORT, so several workers can bind the same port and the kernel
    ///     spreads flows between them.
    ///   - bufferBytes: SO_RCVBUF/SO_SNDBUF request (nil keeps the system default).
    ///   - segmentation: send runs of same-size datagrams to one destination as one message
    ///     (UDP_SEGMENT) when the kernel supports it.
    ///
    /// A listening socket (`reusePort`) handed over by the process this one replaces is adopted
    /// instead of bound (`InheritedSockets`): same socket, same port, its queued datagrams kept.
    public convenience init(bindTo address: SocketAddress, reusePort: Bool = false, bufferBytes: Int? = nil,
                            segmentation: Bool = false) throws(SystemError) {
        if reusePort, let fd = InheritedSockets.take(.udpListener, address.description) {
            try self.init(adopting: fd, segmentation: segmentation)
        } else {
            try self.init(binding: address, reusePort: reusePort, bufferBytes: bufferBytes, segmentation: segmentation)
        }
    }

    /// Takes over a bound UDP socket (from a handover): its options stay as the old process set them.
    public init(adopting fd: Int32, segmentation: Bool = false) throws(SystemError) {
        do throws(SystemError) {
            localAddress = try Self.localName(of: fd)
        } catch {
            close(fd)
            throw error
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        receiveBufferBytes = Self.intOption(fd, SO_RCVBUF)
        sendBufferBytes = Self.intOption(fd, SO_SNDBUF)
        bufferCapped = false
        var one: Int32 = 1
        countsKernelDrops = setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
        self.fd = fd
        self.segmentation = segmentation && rtcgate_udp_segmentation_probe(fd) == 0
    }

    private init(binding address: SocketAddress, reusePort: Bool, bufferBytes: Int?, segmentation: Bool) throws(SystemError) {
        let fd = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError("socket(udp)") }
        do throws(SystemError) {
            if reusePort { try setSocketOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if address.family == AF_INET6 { try setSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            var capped = false
            if let bufferBytes {
                let size = Int32(clamping: bufferBytes)
                capped = try !Self.setBuffer(fd, force: SO_RCVBUFFORCE, plain: SO_RCVBUF, size)
                capped = try !Self.setBuffer(fd, force: SO_SNDBUFFORCE, plain: SO_SNDBUF, size) || capped
            }
            let bound = address.withSockAddr { Glibc.bind(fd, $0, $1) }
            if bound != 0 { throw SystemError("bind(\(address))") }
            localAddress = try Self.localName(of: fd)
            receiveBufferBytes = Self.intOption(fd, SO_RCVBUF)
            sendBufferBytes = Self.intOption(fd, SO_SNDBUF)
            bufferCapped = capped
            var one: Int32 = 1
            countsKernelDrops = setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.segmentation = segmentation && rtcgate_udp_segmentation_probe(fd) == 0
    }

    deinit { close(fd) }

    /// Asks for other receive and send buffer sizes (as `bufferBytes` at creation): a held
    /// EVEN-PORT reservation starts small and grows to the relay's size when claimed.
    public func resizeBuffers(_ bytes: Int) {
        let size = Int32(clamping: bytes)
        let receive = (try? Self.setBuffer(fd, force: SO_RCVBUFFORCE, plain: SO_RCVBUF, size)) ?? false
        let send = (try? Self.setBuffer(fd, force: SO_SNDBUFFORCE, plain: SO_SNDBUF, size)) ?? false
        bufferCapped = !(receive && send)
        receiveBufferBytes = Self.intOption(fd, SO_RCVBUF)
        sendBufferBytes = Self.intOption(fd, SO_SNDBUF)
    }

    /// Sets a buffer size, forced past the system maximum when the process may (CAP_NET_ADMIN);
    /// false when only the capped size could be asked for.
    private static func setBuffer(_ fd: Int32, force: Int32, plain: Int32, _ size: Int32) throws(SystemError) -> Bool {
        var value = size
        if setsockopt(fd, SOL_SOCKET, force, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 { return true }
        try setSocketOption(fd, SOL_SOCKET, plain, size)
        return Int(intOption(fd, plain)) >= 2 * Int(size)  // the kernel doubles what it grants
    }

    private static func intOption(_ fd: Int32, _ name: Int32) -> Int {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? Int(value) : 0
    }

    /// Receives up to `count` datagrams into `batch` entries `0..<count` (their buffers must be
    /// set). Returns how many arrived; 0 when none was waiting.
    public func receive(into batch: DatagramBatch, count: Int) throws(SystemError) -> Int {
        let count = min(count, batch.capacity)
        batch.prepareForReceive(count: count, control: countsKernelDrops)
        while true {
            let n = rtcgate_recvmmsg(fd, batch.headers, UInt32(count), Int32(MSG_DONTWAIT))
            if n >= 0 {
                noteDrops(batch, received: Int(n), count: count)
                return Int(n)
            }
            let code = errno
            if code == EINTR { continue }
            noteDrops(batch, received: 0, count: count)
            if code == EAGAIN || code == EWOULDBLOCK { return 0 }
            throw SystemError("recvmmsg", code: code)
        }
    }

    /// Takes the drop counter of the newest datagram (every drop before it is in it) and the
    /// control buffers back out of the batch.
    private func noteDrops(_ batch: DatagramBatch, received: Int, count: Int) {
        guard countsKernelDrops else { return }
        if received > 0, let counter = batch.dropCounter(at: received - 1) {
            kernelDrops &+= UInt64(counter &- lastDropCounter)
            lastDropCounter = counter
        }
        batch.clearReceiveControl(count: count)
    }

    /// Sends entries `0..<count` of `batch`. Returns how many the kernel took; a datagram the
    /// kernel refuses (full buffer, unreachable) is skipped, counted by the caller as a drop.
    public func send(_ batch: DatagramBatch, count: Int) -> (sent: Int, failed: Int) {
        if segmentation && count > 1 { return sendCoalesced(batch, count: count) }
        let failed = sendEach(batch, from: 0, count: count)
        return (count - failed, failed)
    }

    /// Sends entries `start..<start + count` one datagram per message; returns how many failed.
    func sendEach(_ batch: DatagramBatch, from start: Int, count: Int) -> Int {
        let end = start + count
        var offset = start
        var failed = 0
        while offset < end {
            let n = rtcgate_sendmmsg(fd, batch.headers + offset, UInt32(end - offset), Int32(MSG_DONTWAIT))
            if n > 0 {
                offset += Int(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                failed += end - offset  // socket buffer full: UDP drops, counted
                break
            }
            offset += 1  // this datagram failed (e.g. EPERM, ENETUNREACH); skip it
            failed += 1
        }
        return failed
    }

    /// Sends entries `0..<count` as coalesced runs. A run the kernel refuses as one message
    /// (EINVAL or EMSGSIZE: a segment over the path MTU, or a limit of an older kernel; EIO:
    /// the device cannot checksum segments) goes out datagram by datagram. After EIO, or
    /// `refusalLimit` refusals in a row, the socket stops segmenting, so a path that cannot
    /// take runs does not cost two calls per batch. Other errors (unreachable, forbidden) are
    /// the destination's, the same for every datagram of the run: counted, not retried.
    func sendCoalesced(_ batch: DatagramBatch, count: Int) -> (sent: Int, failed: Int) {
        let runs = batch.runs.build(vectors: batch.vectors, count: count, destinations: batch.headers)
        if runs == count {
            let failed = sendEach(batch, from: 0, count: count)
            return (count - failed, failed)
        }
        var run = 0
        var datagram = 0
        var failed = 0
        while run < runs {
            let n = rtcgate_sendmmsg(fd, batch.runs.headers + run, UInt32(runs - run), Int32(MSG_DONTWAIT))
            if n > 0 {
                for r in run..<(run + Int(n)) {
                    let length = batch.runs.lengths[r]
                    datagram += length
                    if length > 1 {
                        batch.segmentedRuns &+= 1
                        batch.segmentedDatagrams &+= UInt64(length)
                    }
                }
                run += Int(n)
                refusedRuns = 0
                continue
            }
            let code = errno
            if n < 0 && code == EINTR { continue }
            if n < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                failed += count - datagram  // socket buffer full: UDP drops, counted
                break
            }
            let length = batch.runs.lengths[run]
            if length == 1 || !SegmentRuns.isRefusal(code) {
                failed += length
            } else {
                batch.segmentationFallbacks &+= 1
                refusedRuns += 1
                if code == EIO || code == EOPNOTSUPP || code == ENOPROTOOPT || refusedRuns >= Self.refusalLimit {
                    segmentation = false
                    failed += sendEach(batch, from: datagram, count: count - datagram)
                    datagram = count
                    break
                }
                failed += sendEach(batch, from: datagram, count: length)
            }
            datagram += length
            run += 1
        }
        return (count - failed, failed)
    }

    /// Sets the don't-fragment bit on every datagram sent (path MTU discovery "do": oversized
    /// datagrams fail with EMSGSIZE instead of being fragmented).
    public func setDontFragment(_ ipv4: Bool) {
        if ipv4 {
            try? setSocketOption(fd, Int32(IPPROTO_IP), IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        } else {
            try? setSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_DONTFRAG, 1)
        }
    }

    /// Sends one datagram; returns false when the kernel refused it.
    public func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) -> Bool {
        address.withSockAddr { sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, $1) } == bytes.count
    }

    static func localName(of fd: Int32) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if result != 0 { throw SystemError("getsockname") }
        return SocketAddress(storage: storage, length: length)
    }
}

/// Sets an integer socket option.
func setSocketOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
    var v = value
    if setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
        throw SystemError("setsockopt(\(level), \(name))")
    }
}

import CSystem
import Glibc

/// Pre-allocated `mmsghdr`/`iovec`/address arrays for moving many datagrams per system call.
///
/// Entry `i` points at caller-owned memory (usually a `BufferPool` slot) set with `setBuffer`;
/// after `UDPSocket.receive`, `length(at:)` and `address(at:)` describe what arrived. For sending,
/// set buffer, length and address of entries `0..<count`.
public final class DatagramBatch {
    /// Entries this batch can hold.
    public let capacity: Int
    @usableFromInline let headers: UnsafeMutablePointer<rtcgate_mmsghdr>
    @usableFromInline let vectors: UnsafeMutablePointer<iovec>
    @usableFromInline let addresses: UnsafeMutablePointer<sockaddr_storage>
    /// Runs of entries for sockets that send with UDP segmentation.
    let runs: SegmentRuns
    /// One SO_RXQ_OVFL control buffer per entry, for sockets that count kernel drops.
    let receiveControl: UnsafeMutableRawPointer
    static let receiveControlSpace = Int(rtcgate_rxq_ovfl_control_space())
    /// Runs of several datagrams sent as one message (UDP segmentation) through this batch.
    public internal(set) var segmentedRuns: UInt64 = 0
    /// Datagrams that left in those runs.
    public internal(set) var segmentedDatagrams: UInt64 = 0
    /// Runs the kernel refused as one message, then sent datagram by datagram.
    public internal(set) var segmentationFallbacks: UInt64 = 0

    /// Bytes one entry reserves: header, iovec, address, and its share of the segmentation runs.
    public static var bytesPerEntry: Int {
        2 * MemoryLayout<rtcgate_mmsghdr>.stride + MemoryLayout<iovec>.stride + MemoryLayout<sockaddr_storage>.stride
            + MemoryLayout<Int>.stride + Int(rtcgate_udp_segment_control_space()) + receiveControlSpace
    }

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= 1024)
        self.capacity = capacity
        headers = .allocate(capacity: capacity)
        vectors = .allocate(capacity: capacity)
        addresses = .allocate(capacity: capacity)
        runs = SegmentRuns(capacity: capacity)
        receiveControl = .allocate(byteCount: capacity * Self.receiveControlSpace, alignment: 16)
        headers.initialize(repeating: rtcgate_mmsghdr(), count: capacity)
        vectors.initialize(repeating: iovec(), count: capacity)
        addresses.initialize(repeating: sockaddr_storage(), count: capacity)
        for i in 0..<capacity {
            headers[i].msg_hdr.msg_iov = vectors + i
            headers[i].msg_hdr.msg_iovlen = 1
            headers[i].msg_hdr.msg_name = UnsafeMutableRawPointer(addresses + i)
            headers[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
    }

    deinit {
        headers.deallocate()
        vectors.deallocate()
        addresses.deallocate()
        receiveControl.deallocate()
    }

    /// Points entry `i` at `buffer` (its capacity for receiving, its length for sending).
    @inlinable
    public func setBuffer(_ i: Int, _ buffer: UnsafeMutableRawBufferPointer) {
        vectors[i].iov_base = buffer.baseAddress
        vectors[i].iov_len = buffer.count
    }

    /// Points entry `i` at `length` bytes from `start`.
    @inlinable
    public func setBuffer(_ i: Int, start: UnsafeMutableRawPointer, length: Int) {
        vectors[i].iov_base = start
        vectors[i].iov_len = length
    }

    /// Bytes received into entry `i` by the last `receive`.
    @inlinable
    public func length(at i: Int) -> Int { Int(headers[i].msg_len) }

    /// Whether the datagram received into entry `i` was cut short by its buffer.
    @inlinable
    public func wasTruncated(at i: Int) -> Bool { headers[i].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 }

    /// The received bytes of entry `i`.
    @inlinable
    public func received(at i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: vectors[i].iov_base, count: min(Int(headers[i].msg_len), vectors[i].iov_len))
    }

    /// The source (after receive) or destination (for send) address of entry `i`.
    @inlinable
    public func address(at i: Int) -> UnsafeMutablePointer<sockaddr_storage> { addresses + i }

    /// The address length of entry `i`.
    @inlinable
    public func addressLength(at i: Int) -> socklen_t { headers[i].msg_hdr.msg_namelen }

    /// Copies `address` into entry `i` as its destination.
    @inlinable
    public func setAddress(_ i: Int, _ address: SocketAddress) {
        addresses[i] = address.storage
        headers[i].msg_hdr.msg_namelen = address.length
    }

    /// Sets entry `i`'s destination from raw storage and length (e.g. a received source).
    @inlinable
    public func setAddress(_ i: Int, storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        addresses[i] = storage.pointee
        headers[i].msg_hdr.msg_namelen = length
    }

    /// Resets the per-receive fields of entries `0..<count` before the next `recvmmsg`; with
    /// `control`, each entry gets room for the SO_RXQ_OVFL drop counter.
    func prepareForReceive(count: Int, control: Bool) {
        for i in 0..<count {
            headers[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            headers[i].msg_hdr.msg_flags = 0
            headers[i].msg_len = 0
            if control {
                headers[i].msg_hdr.msg_control = receiveControl + i * Self.receiveControlSpace
                headers[i].msg_hdr.msg_controllen = Self.receiveControlSpace
            }
        }
    }

    /// The socket's drop counter as of entry `i` (SO_RXQ_OVFL), if it came with one.
    func dropCounter(at i: Int) -> UInt32? {
        let value = rtcgate_rxq_ovfl_value(&headers[i].msg_hdr)
        return value >= 0 ? UInt32(truncatingIfNeeded: value) : nil
    }

    /// Takes the control buffers of entries `0..<count` back out, so the batch can be sent from.
    func clearReceiveControl(count: Int) {
        for entry in 0..<count {
            headers[entry].msg_hdr.msg_control = nil
            headers[entry].msg_hdr.msg_controllen = 0
        }
    }
}

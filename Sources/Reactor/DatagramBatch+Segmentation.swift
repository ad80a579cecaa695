import CSystem
import Glibc

/// UDP generic segmentation (UDP_SEGMENT, Linux 4.18+): consecutive datagrams for the same
/// destination with the same length (the last of a run may be shorter) leave in one message,
/// and the kernel (or the NIC) cuts them apart, so the IP/route/device path runs once per run
/// instead of once per datagram. On the wire they are ordinary datagrams.
extension DatagramBatch {
    /// Most segments in one run (the kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.5).
    static let maxSegments = 64
    /// Most bytes in one run (an IPv4/IPv6 datagram's payload limit, with room to spare).
    static let maxRunBytes = 65_000

    /// Whether entries `a` and `b` go to the same address.
    func sameDestination(_ a: Int, _ b: Int) -> Bool {
        let length = headers[a].msg_hdr.msg_namelen
        guard length == headers[b].msg_hdr.msg_namelen else { return false }
        return memcmp(addresses + a, addresses + b, Int(length)) == 0
    }

    /// Groups entries `0..<count` into runs in `runHeaders`/`runLengths`; returns the number of
    /// runs (equal to `count` when nothing could be coalesced).
    func coalesce(count: Int) -> Int {
        var runs = 0
        var start = 0
        while start < count {
            let segment = vectors[start].iov_len
            var length = 1
            var bytes = segment
            if segment > 0 && segment <= Int(UInt16.max) {
                while start + length < count && length < Self.maxSegments {
                    let next = vectors[start + length].iov_len
                    guard next > 0, next <= segment, bytes + next <= Self.maxRunBytes,
                          sameDestination(start, start + length) else { break }
                    length += 1
                    bytes += next
                    if next < segment { break }  // only the last segment may be shorter
                }
            }
            var header = headers[start]
            header.msg_hdr.msg_iovlen = length
            header.msg_hdr.msg_flags = 0
            header.msg_len = 0
            if length > 1 {
                let control = runControls + runs * controlSpace
                rtcgate_udp_segment_control(control, UInt16(segment))
                header.msg_hdr.msg_control = control
                header.msg_hdr.msg_controllen = controlSpace
            } else {
                header.msg_hdr.msg_control = nil
                header.msg_hdr.msg_controllen = 0
            }
            runHeaders[runs] = header
            runLengths[runs] = length
            runs += 1
            start += length
        }
        return runs
    }
}

import Glibc
import Reactor
import STUN

extension TransportAddress {
    /// Reads an IPv4 or IPv6 socket address; nil for any other family.
    @inlinable
    public init?(_ storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(storage).loadUnaligned(as: sockaddr_in.self)
            self.init(ip: .v4(UInt32(bigEndian: sin.sin_addr.s_addr)), port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let raw = UnsafeRawPointer(storage)
            let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
            let addressOffset = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
            let hi = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: addressOffset, as: UInt64.self))
            let lo = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: addressOffset + 8, as: UInt64.self))
            self.init(ip: .v6(hi, lo), port: UInt16(bigEndian: sin6.sin6_port))
        default:
            return nil
        }
    }

    /// Reads an IPv4 or IPv6 `SocketAddress`; nil for Unix addresses.
    public init?(_ address: SocketAddress) {
        var storage = address.storage
        self.init(&storage)
    }
}

extension SocketAddress {
    /// The socket address of a STUN transport address.
    public init(_ address: TransportAddress) {
        self.init()
        switch address.ip {
        case .v4(let value):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = address.port.bigEndian
            sin.sin_addr.s_addr = value.bigEndian
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let hi, let lo):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                raw.storeBytes(of: hi.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: lo.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }
}

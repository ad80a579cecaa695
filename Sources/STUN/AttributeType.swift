/// A STUN attribute type (RFC 8489 §18.3, RFC 8656, RFC 8445, RFC 5780, RFC 8489 §14).
public struct AttributeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 16-bit type number.
    public var rawValue: UInt16

    /// Wraps a type number.
    @inlinable
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// Types below 0x8000 must be understood by the receiver (else 420 Unknown Attribute).
    @inlinable
    public var isComprehensionRequired: Bool {
        rawValue < 0x8000
    }

    /// MAPPED-ADDRESS.
    public static let mappedAddress = AttributeType(rawValue: 0x0001)
    /// USERNAME.
    public static let username = AttributeType(rawValue: 0x0006)
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    public static let messageIntegrity = AttributeType(rawValue: 0x0008)
    /// ERROR-CODE.
    public static let errorCode = AttributeType(rawValue: 0x0009)
    /// UNKNOWN-ATTRIBUTES.
    public static let unknownAttributes = AttributeType(rawValue: 0x000A)
    /// CHANNEL-NUMBER (TURN).
    public static let channelNumber = AttributeType(rawValue: 0x000C)
    /// LIFETIME (TURN).
    public static let lifetime = AttributeType(rawValue: 0x000D)
    /// XOR-PEER-ADDRESS (TURN).
    public static let xorPeerAddress = AttributeType(rawValue: 0x0012)
    /// DATA (TURN).
    public static let data = AttributeType(rawValue: 0x0013)
    /// REALM.
    public static let realm = AttributeType(rawValue: 0x0014)
    /// NONCE.
    public static let nonce = AttributeType(rawValue: 0x0015)
    /// XOR-RELAYED-ADDRESS (TURN).
    public static let xorRelayedAddress = AttributeType(rawValue: 0x0016)
    /// REQUESTED-ADDRESS-FAMILY (TURN).
    public static let requestedAddressFamily = AttributeType(rawValue: 0x0017)
    /// EVEN-PORT (TURN).
    public static let evenPort = AttributeType(rawValue: 0x0018)
    /// REQUESTED-TRANSPORT (TURN).
    public static let requestedTransport = AttributeType(rawValue: 0x0019)
    /// DONT-FRAGMENT (TURN).
    public static let dontFragment = AttributeType(rawValue: 0x001A)
    /// MESSAGE-INTEGRITY-SHA256.
    public static let messageIntegritySHA256 = AttributeType(rawValue: 0x001C)
    /// PASSWORD-ALGORITHM.
    public static let passwordAlgorithm = AttributeType(rawValue: 0x001D)
    /// USERHASH.
    public static let userhash = AttributeType(rawValue: 0x001E)
    /// XOR-MAPPED-ADDRESS.
    public static let xorMappedAddress = AttributeType(rawValue: 0x0020)
    /// RESERVATION-TOKEN (TURN).
    public static let reservationToken = AttributeType(rawValue: 0x0022)
    /// PRIORITY (ICE).
    public static let priority = AttributeType(rawValue: 0x0024)
    /// USE-CANDIDATE (ICE).
    public static let useCandidate = AttributeType(rawValue: 0x0025)
    /// ADDITIONAL-ADDRESS-FAMILY (TURN).
    public static let additionalAddressFamily = AttributeType(rawValue: 0x8000)
    /// ADDRESS-ERROR-CODE (TURN).
    public static let addressErrorCode = AttributeType(rawValue: 0x8001)
    /// PASSWORD-ALGORITHMS.
    public static let passwordAlgorithms = AttributeType(rawValue: 0x8002)
    /// ALTERNATE-DOMAIN.
    public static let alternateDomain = AttributeType(rawValue: 0x8003)
    /// ICMP (TURN).
    public static let icmp = AttributeType(rawValue: 0x8004)
    /// SOFTWARE.
    public static let software = AttributeType(rawValue: 0x8022)
    /// ALTERNATE-SERVER.
    public static let alternateServer = AttributeType(rawValue: 0x8023)
    /// FINGERPRINT.
    public static let fingerprint = AttributeType(rawValue: 0x8028)
    /// ICE-CONTROLLED (ICE).
    public static let iceControlled = AttributeType(rawValue: 0x8029)
    /// ICE-CONTROLLING (ICE).
    public static let iceControlling = AttributeType(rawValue: 0x802A)
    /// RESPONSE-ORIGIN (RFC 5780).
    public static let responseOrigin = AttributeType(rawValue: 0x802B)
    /// OTHER-ADDRESS (RFC 5780).
    public static let otherAddress = AttributeType(rawValue: 0x802C)

    /// True for every type this module names (the comprehension-required ones among them
    /// are what a server "understands" when deciding on 420 Unknown Attribute).
    @inlinable
    public var isKnown: Bool {
        switch rawValue {
        case 0x0001, 0x0006, 0x0008, 0x0009, 0x000A, 0x000C, 0x000D, 0x0012, 0x0013, 0x0014,
             0x0015, 0x0016, 0x0017, 0x0018, 0x0019, 0x001A, 0x001C, 0x001D, 0x001E, 0x0020,
             0x0022, 0x0024, 0x0025:
            return true
        case 0x8000, 0x8001, 0x8002, 0x8003, 0x8004, 0x8022, 0x8023, 0x8028, 0x8029, 0x802A,
             0x802B, 0x802C:
            return true
        default:
            return false
        }
    }

    /// The RFC name, or the number in hex.
    public var description: String {
        switch self {
        case .mappedAddress: return "MAPPED-ADDRESS"
        case .username: return "USERNAME"
        case .messageIntegrity: return "MESSAGE-INTEGRITY"
        case .errorCode: return "ERROR-CODE"
        case .unknownAttributes: return "UNKNOWN-ATTRIBUTES"
        case .channelNumber: return "CHANNEL-NUMBER"
        case .lifetime: return "LIFETIME"
        case .xorPeerAddress: return "XOR-PEER-ADDRESS"
        case .data: return "DATA"
        case .realm: return "REALM"
        case .nonce: return "NONCE"
        case .xorRelayedAddress: return "XOR-RELAYED-ADDRESS"
        case .requestedAddressFamily: return "REQUESTED-ADDRESS-FAMILY"
        case .evenPort: return "EVEN-PORT"
        case .requestedTransport: return "REQUESTED-TRANSPORT"
        case .dontFragment: return "DONT-FRAGMENT"
        case .messageIntegritySHA256: return "MESSAGE-INTEGRITY-SHA256"
        case .passwordAlgorithm: return "PASSWORD-ALGORITHM"
        case .userhash: return "USERHASH"
        case .xorMappedAddress: return "XOR-MAPPED-ADDRESS"
        case .reservationToken: return "RESERVATION-TOKEN"
        case .priority: return "PRIORITY"
        case .useCandidate: return "USE-CANDIDATE"
        case .additionalAddressFamily: return "ADDITIONAL-ADDRESS-FAMILY"
        case .addressErrorCode: return "ADDRESS-ERROR-CODE"
        case .passwordAlgorithms: return "PASSWORD-ALGORITHMS"
        case .alternateDomain: return "ALTERNATE-DOMAIN"
        case .icmp: return "ICMP"
        case .software: return "SOFTWARE"
        case .alternateServer: return "ALTERNATE-SERVER"
        case .fingerprint: return "FINGERPRINT"
        case .iceControlled: return "ICE-CONTROLLED"
        case .iceControlling: return "ICE-CONTROLLING"
        case .responseOrigin: return "RESPONSE-ORIGIN"
        case .otherAddress: return "OTHER-ADDRESS"
        default: return "Attribute(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// Client id rules: 1–64 bytes of `[A-Za-z0-9._-]`; ids starting with `_` are reserved for
/// rtcgate itself (`_gw`) and can never be provisioned.
public enum ClientID {
    /// The id rtcgate uses as `from` on its own messages.
    public static let gateway = "_gw"
    public static let maxLength = 64

    /// True if `id` has valid syntax (reserved ids included).
    public static func isValidSyntax(_ id: some StringProtocol) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        return utf8.allSatisfy(isAllowedByte)
    }

    /// True if `id` starts with the reserved `_`.
    public static func isReserved(_ id: some StringProtocol) -> Bool { id.utf8.first == 0x5F }

    static func isAllowedByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2E, 0x5F, 0x2D: return true
        default: return false
        }
    }
}

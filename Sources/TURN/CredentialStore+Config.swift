import STUN
extension CredentialStore {
    /// A store for `realm` filled from coturn-style user lines (see `addUser(line:)`); nil
    /// if any line is rejected.
    public init?(realm: String, lines: [String]) {
        self.init(realm: realm)
        for line in lines {
            guard addUser(line: line) else { return nil }
        }
    }

    /// Adds one user from the value of a coturn `user=` line: `name:password`, or a
    /// pre-hashed key `name:0x<32 hex digits>` (MD5(name:realm:password), as printed by
    /// `turnadmin -k`) or `name:0x<64 hex digits>` (the SHA-256 key). The name ends at the
    /// first ':'; the password may contain ':'. As in coturn, a clear-text password that
    /// is "0x" plus 32 hex digits is read as a key. False when the line is rejected.
    @discardableResult
    public mutating func addUser(line: String) -> Bool {
        guard let colon = line.utf8.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let name = String(line[..<colon])
        let secret = line.utf8[line.utf8.index(after: colon)...]
        if let key = Self.hexKey(secret) {
            return addUser(name: name, key: key)
        }
        return addUser(name: name, password: String(line[line.index(after: colon)...]))
    }

    /// The bytes of "0x" + 32 or 64 hex digits (either case), else nil.
    static func hexKey(_ text: Substring.UTF8View) -> [UInt8]? {
        let bytes = Array(text)
        guard bytes.count == 34 || bytes.count == 66, bytes[0] == UInt8(ascii: "0"),
              bytes[1] == UInt8(ascii: "x") || bytes[1] == UInt8(ascii: "X") else { return nil }
        return Hex.decode(bytes[2...])
    }
}

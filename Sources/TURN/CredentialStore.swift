import STUN

/// Static long-term users (RFC 8489 §9.2) for one realm, as configured in coturn's
/// `user=name:password` lines. Only derived keys are kept, never passwords: the MD5 key
/// (MESSAGE-INTEGRITY) and the SHA-256 key (MESSAGE-INTEGRITY-SHA256). Pre-hashed entries
/// (`name:0x<32 hex>`, what coturn's `turnadmin -k` prints) carry only the MD5 key.
///
/// Users are added at configuration time (that allocates); lookups by USERNAME bytes or by
/// USERHASH (SHA-256(username ":" realm), precomputed) probe two open-addressing tables
/// kept at most half full and never allocate. Names and passwords are used as the UTF-8
/// bytes given (no OpaqueString processing), like `LongTermKey`.
public struct CredentialStore: Sendable {
    /// Derived keys of one user, held inline.
    public struct User: Sendable {
        /// Position of the user in insertion order.
        public let index: Int
        var md5: (UInt64, UInt64) = (0, 0)
        var sha256: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        /// True when the MD5 key is known.
        public internal(set) var hasMD5Key = false
        /// True when the SHA-256 key is known (not for pre-hashed MD5 entries).
        public internal(set) var hasSHA256Key = false

        /// Calls `body` with the key for `algorithm`; nil when this user has no such key
        /// (answer 401: the client must then use the other algorithm).
        public func withKey<R>(_ algorithm: LongTermKeyAlgorithm, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
            switch algorithm {
            case .md5: return hasMD5Key ? try Swift.withUnsafeBytes(of: md5, body) : nil
            case .sha256: return hasSHA256Key ? try Swift.withUnsafeBytes(of: sha256, body) : nil
            }
        }
    }

    struct Entry: Sendable {
        var user: User
        var nameStart: Int
        var nameLength: Int
        var userhash: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var nameHash: UInt64
    }

    /// The realm all keys were derived with.
    public let realm: String
    let realmBytes: [UInt8]
    var names: [UInt8] = []
    var entries: [Entry] = []
    /// Slot → entry index + 1 (0 = empty); capacity a power of two, load ≤ 1/2.
    var byName: [Int32] = [Int32](repeating: 0, count: 16)
    var byUserhash: [Int32] = [Int32](repeating: 0, count: 16)
    let seed: UInt64

    /// An empty store for `realm`.
    public init(realm: String) {
        self.realm = realm
        self.realmBytes = Array(realm.utf8)
        var seed: UInt64 = 0
        withUnsafeMutableBytes(of: &seed) { turnRandomBytes($0) }
        self.seed = seed
    }

    /// Number of users.
    public var count: Int { entries.count }

    /// Adds (or replaces) a user with a clear-text password; false when the name is empty,
    /// contains ':' or is 509 bytes or longer.
    @discardableResult
    public mutating func addUser(name: String, password: String) -> Bool {
        var user = User(index: 0)
        let nameBytes = Array(name.utf8), passwordBytes = Array(password.utf8)
        let ok = nameBytes.withUnsafeBytes { name in
            realmBytes.withUnsafeBytes { realm in
                passwordBytes.withUnsafeBytes { password in
                    withUnsafeMutableBytes(of: &user.md5) {
                        LongTermKey.md5(username: name, realm: realm, password: password, into: $0)
                    } && withUnsafeMutableBytes(of: &user.sha256) {
                        LongTermKey.sha256(username: name, realm: realm, password: password, into: $0)
                    }
                }
            }
        }
        guard ok else { return false }
        user.hasMD5Key = true
        user.hasSHA256Key = true
        return insert(name: nameBytes, user: user)
    }

    /// Adds (or replaces) a user from a pre-computed key: 16 bytes = MD5 key, 32 bytes =
    /// SHA-256 key (both derived with this store's realm); false on another size or a bad name.
    @discardableResult
    public mutating func addUser(name: String, key: [UInt8]) -> Bool {
        var user = User(index: 0)
        switch key.count {
        case LongTermKey.md5Length:
            withUnsafeMutableBytes(of: &user.md5) { $0.copyBytes(from: key) }
            user.hasMD5Key = true
        case LongTermKey.sha256Length:
            withUnsafeMutableBytes(of: &user.sha256) { $0.copyBytes(from: key) }
            user.hasSHA256Key = true
        default:
            return false
        }
        return insert(name: Array(name.utf8), user: user)
    }

    /// The user whose name is exactly `username` (USERNAME attribute bytes), or nil.
    public func user(named username: UnsafeRawBufferPointer) -> User? {
        let hash = nameHash(username)
        let mask = byName.count - 1
        return byName.withUnsafeBufferPointer { table -> User? in
            names.withUnsafeBytes { arena -> User? in
                entries.withUnsafeBufferPointer { entries -> User? in
                    var slot = Int(truncatingIfNeeded: hash) & mask
                    while table[slot] != 0 {
                        let entry = entries[Int(table[slot]) - 1]
                        if entry.nameHash == hash, entry.nameLength == username.count,
                           username.elementsEqual(UnsafeRawBufferPointer(
                            rebasing: arena[entry.nameStart..<(entry.nameStart + entry.nameLength)])) {
                            return entry.user
                        }
                        slot = (slot + 1) & mask
                    }
                    return nil
                }
            }
        }
    }

    /// The user whose SHA-256(name ":" realm) equals `userhash` (USERHASH attribute, 32
    /// bytes), or nil.
    public func user(userhash: UnsafeRawBufferPointer) -> User? {
        guard userhash.count == LongTermKey.sha256Length else { return nil }
        let mask = byUserhash.count - 1
        return byUserhash.withUnsafeBufferPointer { table -> User? in
            entries.withUnsafeBufferPointer { entries -> User? in
                var slot = Int(truncatingIfNeeded: userhashSlot(userhash)) & mask
                while table[slot] != 0 {
                    let entry = entries[Int(table[slot]) - 1]
                    let same = withUnsafeBytes(of: entry.userhash) { turnConstantTimeEqual($0, userhash) }
                    if same { return entry.user }
                    slot = (slot + 1) & mask
                }
                return nil
            }
        }
    }

    /// The name of `user` as a String (allocates; for logs, quotas, and USERHASH clients).
    public func name(of user: User) -> String {
        let entry = entries[user.index]
        return String(decoding: names[entry.nameStart..<(entry.nameStart + entry.nameLength)], as: UTF8.self)
    }

    // MARK: - Table maintenance (configuration time only)

    mutating func insert(name: [UInt8], user: User) -> Bool {
        guard !name.isEmpty, name.count <= RestCredentials.maxUsernameLength,
              !name.contains(UInt8(ascii: ":")) else { return false }
        let existing = name.withUnsafeBytes { self.user(named: $0) }
        if let existing {
            entries[existing.index].user = User(index: existing.index, md5: user.md5, sha256: user.sha256,
                                                hasMD5Key: user.hasMD5Key, hasSHA256Key: user.hasSHA256Key)
            return true
        }
        var entry = Entry(user: User(index: entries.count, md5: user.md5, sha256: user.sha256,
                                     hasMD5Key: user.hasMD5Key, hasSHA256Key: user.hasSHA256Key),
                          nameStart: names.count, nameLength: name.count,
                          nameHash: name.withUnsafeBytes { nameHash($0) })
        let hashed = name.withUnsafeBytes { name in
            realmBytes.withUnsafeBytes { realm in
                withUnsafeMutableBytes(of: &entry.userhash) { LongTermKey.userhash(username: name, realm: realm, into: $0) }
            }
        }
        guard hashed else { return false }
        names.append(contentsOf: name)
        entries.append(entry)
        if entries.count * 2 > byName.count {
            rebuildTables(capacity: byName.count * 2)
        } else {
            place(entries.count - 1)
        }
        return true
    }

    mutating func rebuildTables(capacity: Int) {
        byName = [Int32](repeating: 0, count: capacity)
        byUserhash = [Int32](repeating: 0, count: capacity)
        for index in entries.indices { place(index) }
    }

    mutating func place(_ index: Int) {
        let entry = entries[index]
        let mask = byName.count - 1
        var slot = Int(truncatingIfNeeded: entry.nameHash) & mask
        while byName[slot] != 0 { slot = (slot + 1) & mask }
        byName[slot] = Int32(index + 1)
        slot = withUnsafeBytes(of: entry.userhash) { Int(truncatingIfNeeded: userhashSlot($0)) } & mask
        while byUserhash[slot] != 0 { slot = (slot + 1) & mask }
        byUserhash[slot] = Int32(index + 1)
    }

    /// Seeded FNV-1a, finished with a multiply-xorshift so low bits are usable as a slot.
    func nameHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ (hash >> 32)) &* 0x9E37_79B9_7F4A_7C15
        return hash ^ (hash >> 29)
    }

    /// USERHASH values are attacker-chosen, so the slot is keyed with the seed too.
    func userhashSlot(_ userhash: UnsafeRawBufferPointer) -> UInt64 {
        var word: UInt64 = 0
        for index in 0..<8 { word = word << 8 | UInt64(userhash[index]) }
        word = (word ^ seed) &* 0x9E37_79B9_7F4A_7C15
        return word ^ (word >> 29)
    }
}

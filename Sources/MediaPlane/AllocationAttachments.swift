import Reactor
import TURN

/// What a worker keeps about each allocation beyond the TURN core's protocol state: the username
/// it was made with (for listings) and, for an allocation made over TCP, the connection that owns
/// it. Entries are keyed by `AllocationID` (table index and generation), so an entry left behind
/// by an allocation that ended is never read as the next allocation's in the same record: no
/// path has to remember to clean up. Set on the control path (Allocate), read per packet only
/// for TCP owners; the array is sized once, at the table's capacity.
struct AllocationAttachments {
    struct Entry {
        var generation: UInt32
        var userName: String?
        var owner: (connection: StreamConnection, generation: UInt32)?
    }

    private var entries: [Entry?]

    init(capacity: Int) { entries = Array(repeating: nil, count: capacity) }

    /// The entry of `id`, if it was set for this very allocation.
    subscript(id: AllocationID) -> Entry? {
        guard let entry = entries[Int(id.index)], entry.generation == id.generation else { return nil }
        return entry
    }

    mutating func setUserName(_ name: String, for id: AllocationID) {
        update(id) { $0.userName = name }
    }

    mutating func setOwner(_ connection: StreamConnection, for id: AllocationID) {
        update(id) { $0.owner = (connection, connection.generation) }
    }

    /// The owning connection of `id`, if it is still the same connection (not closed and reused).
    func liveOwner(of id: AllocationID) -> StreamConnection? {
        guard let owner = self[id]?.owner, owner.connection.generation == owner.generation else { return nil }
        return owner.connection
    }

    private mutating func update(_ id: AllocationID, _ change: (inout Entry) -> Void) {
        var entry = self[id] ?? Entry(generation: id.generation)
        change(&entry)
        entries[Int(id.index)] = entry
    }
}

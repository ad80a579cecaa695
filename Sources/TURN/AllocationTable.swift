import Glibc

/// A handle to an allocation in an `AllocationTable`; stale handles (after removal) find nothing.
public struct AllocationID: Hashable, Sendable {
    public let index: UInt32
    public let generation: UInt32
}

/// Why an allocation could not be added.
public enum AllocationRefusal: Error, Equatable, Sendable {
    /// The table is full (508 Insufficient Capacity).
    case tableFull
    /// `total-quota` reached (486 Allocation Quota Reached).
    case totalQuota
    /// `user-quota` reached for this username (486).
    case userQuota
}

/// Every allocation of one media worker, in a fixed array reserved at start-up and indexed by
/// 5-tuple (open addressing, linear probing with backward-shift deletion: no tombstones, so the
/// index never degrades). Nothing here grows with load. Records are reached through their
/// address, never copied: each holds its permissions and channels inline. Owned by one worker.
public final class AllocationTable {
    private let records: UnsafeMutablePointer<Allocation>
    private var occupied: [Bool]
    private var generations: [UInt32]
    private var buckets: [Int32]
    private var freeSlots: [Int32]
    private let bucketMask: Int
    private let limits: TurnLimits
    /// Allocations currently held.
    public private(set) var count = 0

    /// - Parameter prefault: touch the records now, so resident memory does not grow as
    ///   allocations arrive (the board profile's `pool-prefault`).
    public init(limits: TurnLimits, prefault: Bool = false) {
        let capacity = max(1, limits.maxAllocations)
        self.limits = limits
        records = .allocate(capacity: capacity)
        if prefault { memset(records, 0, capacity * MemoryLayout<Allocation>.stride) }
        occupied = Array(repeating: false, count: capacity)
        generations = Array(repeating: 0, count: capacity)
        var size = 8
        while size < capacity * 2 { size <<= 1 }
        buckets = Array(repeating: -1, count: size)
        bucketMask = size - 1
        freeSlots = (0..<Int32(capacity)).reversed()
        freeSlots.reserveCapacity(capacity)
    }

    deinit {
        for slot in occupied.indices where occupied[slot] { (records + slot).deinitialize(count: 1) }
        records.deallocate()
    }

    /// Allocations the table can hold.
    public var capacity: Int { occupied.count }

    /// The allocation of a 5-tuple.
    public func lookup(_ tuple: FiveTuple) -> AllocationID? {
        var bucket = tuple.hashValue & bucketMask
        while true {
            let slot = buckets[bucket]
            if slot < 0 { return nil }
            if records[Int(slot)].fiveTuple == tuple {
                return AllocationID(index: UInt32(slot), generation: generations[Int(slot)])
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Adds an allocation, enforcing capacity and quotas (checked in this order: table,
    /// total quota, user quota). The 5-tuple must not have one already.
    public func insert(_ allocation: Allocation) -> Result<AllocationID, AllocationRefusal> {
        precondition(lookup(allocation.fiveTuple) == nil, "one allocation per 5-tuple")
        guard let slot = freeSlots.last else { return .failure(.tableFull) }
        if limits.totalQuota > 0 && count >= limits.totalQuota { return .failure(.totalQuota) }
        if limits.userQuota > 0 && allocations(ofUser: allocation.userKey) >= limits.userQuota { return .failure(.userQuota) }
        freeSlots.removeLast()
        (records + Int(slot)).initialize(to: allocation)
        occupied[Int(slot)] = true
        var bucket = allocation.fiveTuple.hashValue & bucketMask
        while buckets[bucket] >= 0 { bucket = (bucket + 1) & bucketMask }
        buckets[bucket] = slot
        count += 1
        return .success(AllocationID(index: UInt32(slot), generation: generations[Int(slot)]))
    }

    /// Allocations held by one username (linear: Allocate is rare, the table small).
    public func allocations(ofUser userKey: UInt64) -> Int {
        var n = 0
        for slot in occupied.indices where occupied[slot] && records[slot].userKey == userKey { n += 1 }
        return n
    }

    /// Whether a handle still refers to a live allocation.
    public func contains(_ id: AllocationID) -> Bool {
        Int(id.index) < occupied.count && generations[Int(id.index)] == id.generation && occupied[Int(id.index)]
    }

    /// The allocation behind a live handle, borrowed and modified in place (no copy of the
    /// record, which holds its permissions and channels inline). A stale handle is a bug (trap).
    public subscript(id: AllocationID) -> Allocation {
        unsafeAddress {
            precondition(contains(id), "stale allocation handle")
            return UnsafePointer(records + Int(id.index))
        }
        unsafeMutableAddress {
            precondition(contains(id), "stale allocation handle")
            return records + Int(id.index)
        }
    }

    /// Removes an allocation; a stale handle is ignored.
    public func remove(_ id: AllocationID) {
        guard contains(id) else { return }
        var bucket = records[Int(id.index)].fiveTuple.hashValue & bucketMask
        while buckets[bucket] != Int32(id.index) { bucket = (bucket + 1) & bucketMask }
        // Backward-shift deletion keeps every probe chain unbroken.
        var hole = bucket
        var next = (hole + 1) & bucketMask
        while buckets[next] >= 0 {
            let home = records[Int(buckets[next])].fiveTuple.hashValue & bucketMask
            if (next - home) & bucketMask >= (next - hole) & bucketMask {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & bucketMask
        }
        buckets[hole] = -1
        (records + Int(id.index)).deinitialize(count: 1)
        occupied[Int(id.index)] = false
        generations[Int(id.index)] &+= 1
        freeSlots.append(Int32(id.index))
        count -= 1
    }

    /// Removes every allocation whose lifetime has run out, calling `onExpiry` first for each
    /// (so the shell can close its relay socket).
    public func removeExpired(now: UInt64, _ onExpiry: (AllocationID, Allocation) -> Void) {
        for slot in occupied.indices where occupied[slot] && records[slot].expiry <= now {
            let id = AllocationID(index: UInt32(slot), generation: generations[slot])
            onExpiry(id, records[slot])
            remove(id)
        }
    }

    /// Every live allocation's handle, for listings.
    public var ids: [AllocationID] {
        occupied.indices.compactMap { occupied[$0] ? AllocationID(index: UInt32($0), generation: generations[$0]) : nil }
    }
}

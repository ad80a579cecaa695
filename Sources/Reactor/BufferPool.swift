import Glibc

/// A handle to one slot of a `BufferPool`.
public struct BufferSlot: Hashable, Sendable {
    public let index: UInt32
    @inlinable public init(index: UInt32) { self.index = index }
}

/// One slab carved at start-up into equal slots; each slot has `headroom` bytes in front of its
/// payload so a protocol header (ChannelData, Data indication) can be prepended in place.
///
/// The pool never grows: when every slot is in use `acquire()` returns nil and counts the
/// exhaustion. The slab is reserved at start-up; with `prefault` it is also touched then, so
/// resident memory never grows under load (at the cost of idle RSS). Without it, slots become
/// resident as they are first used; free slots are handed out most-recently-used first, so a
/// steady load keeps touching the same few. Owned by one event loop; not thread-safe.
public final class BufferPool {
    /// Bytes per slot, headroom included.
    public let slotSize: Int
    /// Bytes reserved in front of each slot's payload.
    public let headroom: Int
    /// Number of slots.
    public let capacity: Int
    /// How many times `acquire()` found the pool empty.
    public private(set) var exhaustions: UInt64 = 0
    /// How many times a slot that was not in use was released (a bug elsewhere; ignored).
    public private(set) var invalidReleases: UInt64 = 0
    /// The lowest number of free slots seen since start-up.
    public private(set) var lowWaterMark: Int

    @usableFromInline let slab: UnsafeMutableRawPointer
    @usableFromInline let freeStack: UnsafeMutablePointer<UInt32>
    @usableFromInline let inUse: UnsafeMutablePointer<Bool>
    @usableFromInline var freeCount: Int

    /// Reserves `capacity` slots of `slotSize` bytes (rounded up to 64) with `headroom` bytes each.
    public init(capacity: Int, slotSize: Int, headroom: Int = 64, prefault: Bool = false) {
        precondition(capacity > 0 && capacity <= Int(UInt32.max), "pool capacity out of range")
        precondition(headroom >= 0 && headroom < slotSize, "headroom must be smaller than the slot")
        let rounded = (slotSize + 63) & ~63
        self.slotSize = rounded
        self.headroom = headroom
        self.capacity = capacity
        // An anonymous mapping of its own: zeroed, page-aligned, and returned whole on deinit.
        let memory = mmap(nil, rounded * capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else {
            fatalError("BufferPool: cannot reserve \(rounded * capacity) bytes at start-up")
        }
        if prefault { memset(memory, 0, rounded * capacity) }
        slab = memory
        freeStack = .allocate(capacity: capacity)
        inUse = .allocate(capacity: capacity)
        inUse.initialize(repeating: false, count: capacity)
        for i in 0..<capacity { freeStack[i] = UInt32(capacity - 1 - i) }
        freeCount = capacity
        lowWaterMark = capacity
    }

    deinit {
        munmap(slab, slotSize * capacity)
        freeStack.deallocate()
        inUse.deallocate()
    }

    /// Total bytes the pool reserves (slab plus bookkeeping).
    public var reservedBytes: Int { slotSize * capacity + capacity * (MemoryLayout<UInt32>.size + 1) }

    /// Slots currently handed out.
    public var used: Int { capacity - freeCount }

    /// Bytes available to a payload after the headroom.
    @inlinable public var payloadCapacity: Int { slotSize - headroom }

    /// Takes a free slot, or returns nil (and counts it) when the pool is exhausted.
    public func acquire() -> BufferSlot? {
        guard freeCount > 0 else {
            noteExhaustion()
            return nil
        }
        freeCount -= 1
        let index = freeStack[freeCount]
        inUse[Int(index)] = true
        if freeCount < lowWaterMark { lowWaterMark = freeCount }
        return BufferSlot(index: index)
    }

    @usableFromInline func noteExhaustion() { exhaustions &+= 1 }

    /// Returns a slot to the pool. Releasing a slot twice is counted and ignored.
    public func release(_ slot: BufferSlot) {
        let i = Int(slot.index)
        guard i < capacity, inUse[i] else {
            noteInvalidRelease()
            return
        }
        inUse[i] = false
        freeStack[freeCount] = slot.index
        freeCount += 1
    }

    @usableFromInline func noteInvalidRelease() { invalidReleases &+= 1 }

    /// The start of the slot (its headroom).
    @inlinable
    public func base(of slot: BufferSlot) -> UnsafeMutableRawPointer {
        slab + Int(slot.index) * slotSize
    }

    /// The slot's payload area, after the headroom.
    @inlinable
    public func payload(of slot: BufferSlot) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: slab + Int(slot.index) * slotSize + headroom, count: slotSize - headroom)
    }
}

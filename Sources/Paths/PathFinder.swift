/// The chosen path: vertices from source to target, its total cost, the lowest quality of its
/// edges, and whether it had to go below the minimum quality (`degraded`).
public struct PathChoice: Sendable, Equatable {
    public var vertices: [Int]
    public var costMicros: Int64
    public var bottleneck: Double
    public var degraded: Bool

    public init(vertices: [Int], costMicros: Int64, bottleneck: Double, degraded: Bool) {
        self.vertices = vertices
        self.costMicros = costMicros
        self.bottleneck = bottleneck
        self.degraded = degraded
    }
}

/// Least-cost paths under a minimum edge quality (docs/paths.md): remove the edges below the
/// threshold, then Dijkstra over (vertex, edges used) states, so a limit on the vertices a path
/// may pass through (`maxTransit`: a TURN client allocates on one relay, so a call crosses at
/// most two) is exact. Ties are broken deterministically, so every instance agrees: lower cost,
/// then fewer edges, then the lexicographically smaller vertex sequence. Scratch storage is sized
/// once, for graphs of up to `capacity` vertices; a search allocates only its result.
public struct PathFinder: Sendable {
    public let capacity: Int
    private var best: [Int64]  // per state (vertex × (layers)): cost, -1 unreached
    private var previous: [Int32]  // per state: the previous state, -1 at the source
    private var done: [Bool]
    private var heap: [Int32]  // indexed binary min-heap of states by cost
    private var slot: [Int32]  // state -> heap position, -1 not in the heap
    private var scratchA: [Int32]
    private var scratchB: [Int32]

    /// Bytes of scratch a finder for `capacity` vertices holds, and its graph.
    public static func reservedBytes(capacity: Int) -> Int {
        let states = capacity * capacity
        return states * (8 + 4 + 1 + 4 + 4) + 2 * capacity * 4  // best, previous, done, heap, slot; scratch
            + states * (8 + 8) + capacity  // the graph: costs, qualities, transit
    }

    public init(capacity: Int) {
        self.capacity = capacity
        let states = capacity * capacity
        best = [Int64](repeating: -1, count: states)
        previous = [Int32](repeating: -1, count: states)
        done = [Bool](repeating: false, count: states)
        heap = [Int32](repeating: 0, count: states)
        slot = [Int32](repeating: -1, count: states)
        scratchA = [Int32](repeating: 0, count: capacity)
        scratchB = [Int32](repeating: 0, count: capacity)
    }

    /// The path to take: the least-cost one whose every edge has quality ≥ `minQuality`; if there
    /// is none and `strict` is false, the path with the best lowest-edge quality (least cost among
    /// those), marked degraded; nil when `to` cannot be reached at all (or strict and none meets it).
    public mutating func choose(in graph: PathGraph, from: Int, to: Int, minQuality: Double, maxTransit: Int? = nil,
                                strict: Bool = false) -> PathChoice? {
        if let path = shortest(in: graph, from: from, to: to, minQuality: minQuality, maxTransit: maxTransit) { return path }
        guard !strict else { return nil }
        // The best achievable bottleneck: the highest edge quality q for which a path with every
        // edge ≥ q exists (binary search over the distinct qualities below the threshold).
        var levels: [Double] = []
        for a in 0..<graph.count {
            for b in 0..<graph.count where graph.cost(a, b) >= 0 && graph.quality(a, b) < minQuality { levels.append(graph.quality(a, b)) }
        }
        levels.sort()
        var unique: [Double] = []
        for q in levels where unique.last != q { unique.append(q) }
        var low = 0, high = unique.count - 1, found: PathChoice?
        while low <= high {
            let middle = (low + high) / 2
            if let path = shortest(in: graph, from: from, to: to, minQuality: unique[middle], maxTransit: maxTransit) {
                found = path
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        guard var path = found else { return nil }
        path.degraded = true
        return path
    }

    /// The least-cost path whose edges all have quality ≥ `minQuality`, or nil.
    public mutating func shortest(in graph: PathGraph, from: Int, to: Int, minQuality: Double, maxTransit: Int? = nil) -> PathChoice? {
        let n = graph.count
        precondition(n <= capacity, "graph larger than the finder's capacity")
        guard from >= 0, from < n, to >= 0, to < n else { return nil }
        if from == to { return PathChoice(vertices: [from], costMicros: 0, bottleneck: 1, degraded: false) }
        let layers = min(n - 1, (maxTransit ?? n) + 1) + 1  // edges used: 0 … layers - 1
        let states = n * layers
        for s in 0..<states { best[s] = -1; previous[s] = -1; done[s] = false; slot[s] = -1 }
        var heapCount = 0
        best[from] = 0
        push(Int32(from), &heapCount)
        while heapCount > 0 {
            let state = Int(pop(&heapCount))
            done[state] = true
            let (vertex, used) = (state % n, state / n)
            if vertex == to || (vertex != from && !graph.isTransit(vertex)) || used + 1 >= layers { continue }
            for next in 0..<n where next != from {
                let edgeCost = graph.cost(vertex, next)
                guard edgeCost >= 0, graph.quality(vertex, next) >= minQuality else { continue }
                let target = (used + 1) * n + next
                guard !done[target] else { continue }
                let candidate = best[state] + edgeCost
                if best[target] < 0 || candidate < best[target]
                    || (candidate == best[target] && precedes(state, Int(previous[target]), n)) {
                    best[target] = candidate
                    previous[target] = Int32(state)
                    if slot[target] < 0 { push(Int32(target), &heapCount) } else { siftUp(Int(slot[target])) }
                }
            }
        }
        var winner = -1
        for used in 1..<layers {
            let state = used * n + to
            guard best[state] >= 0 else { continue }
            // Layers in increasing order: at equal cost the path with fewer edges stays.
            if winner < 0 || best[state] < best[winner] { winner = state }
        }
        guard winner >= 0 else { return nil }
        var vertices: [Int] = []
        var state = winner
        var bottleneck = 1.0
        while state >= 0 {
            let before = Int(previous[state])
            if before >= 0 { bottleneck = min(bottleneck, graph.quality(before % n, state % n)) }
            vertices.append(state % n)
            state = before
        }
        vertices.reverse()
        return PathChoice(vertices: vertices, costMicros: best[winner], bottleneck: bottleneck, degraded: false)
    }

    /// Whether the path ending in state `a` comes before the one ending in state `b` (same
    /// number of edges) in vertex order from the source.
    private mutating func precedes(_ a: Int, _ b: Int, _ n: Int) -> Bool {
        var length = 0
        var s = a, t = b
        while s >= 0 && t >= 0 {
            scratchA[length] = Int32(s % n)
            scratchB[length] = Int32(t % n)
            length += 1
            s = Int(previous[s])
            t = Int(previous[t])
        }
        for i in stride(from: length - 1, through: 0, by: -1) where scratchA[i] != scratchB[i] { return scratchA[i] < scratchB[i] }
        return false
    }

    // MARK: the indexed heap (by best cost; equal costs in any order: see `shortest`)

    private mutating func push(_ state: Int32, _ count: inout Int) {
        heap[count] = state
        slot[Int(state)] = Int32(count)
        count += 1
        siftUp(count - 1)
    }

    private mutating func pop(_ count: inout Int) -> Int32 {
        let top = heap[0]
        count -= 1
        slot[Int(top)] = -1
        if count > 0 {
            heap[0] = heap[count]
            slot[Int(heap[0])] = 0
            siftDown(0, count)
        }
        return top
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard best[Int(heap[i])] < best[Int(heap[parent])] else { break }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int, _ count: Int) {
        var i = start
        while true {
            let left = 2 * i + 1, right = left + 1
            var smallest = i
            if left < count && best[Int(heap[left])] < best[Int(heap[smallest])] { smallest = left }
            if right < count && best[Int(heap[right])] < best[Int(heap[smallest])] { smallest = right }
            guard smallest != i else { return }
            swapAt(i, smallest)
            i = smallest
        }
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        heap.swapAt(i, j)
        slot[Int(heap[i])] = Int32(i)
        slot[Int(heap[j])] = Int32(j)
    }
}

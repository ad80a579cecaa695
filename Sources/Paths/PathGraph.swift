/// A directed graph of at most `capacity` vertices in fixed storage: vertices are indices
/// `0..<count` (their names live with the caller, sorted, so that every instance numbers them
/// alike), each edge has a cost and a quality (``LinkEstimate``), and a vertex may or may not
/// carry traffic through it (`transit`: relays do, clients do not).
public struct PathGraph: Sendable {
    /// Most vertices the graph can hold; fixed at creation.
    public let capacity: Int
    /// Vertices in use.
    public private(set) var count = 0
    private var costs: [Int64]  // capacity × capacity, row = from; -1: no edge
    private var qualities: [Double]
    private var transit: [Bool]

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        costs = [Int64](repeating: -1, count: capacity * capacity)
        qualities = [Double](repeating: 0, count: capacity * capacity)
        transit = [Bool](repeating: true, count: capacity)
    }

    /// Empties the graph and makes `vertices` vertices, all transit, with no edges.
    public mutating func reset(vertices: Int) {
        precondition(vertices >= 0 && vertices <= capacity, "more vertices than the graph's capacity")
        for row in 0..<count {
            for column in 0..<count { costs[row * capacity + column] = -1 }
        }
        for v in 0..<vertices { transit[v] = true }
        count = vertices
    }

    /// Whether paths may pass through `vertex` (not only start or end there).
    public mutating func setTransit(_ vertex: Int, _ allowed: Bool) { transit[vertex] = allowed }
    public func isTransit(_ vertex: Int) -> Bool { transit[vertex] }

    /// Sets the edge `from → to` (cost at least 1 µs, quality clamped to 0…1). Self-loops are ignored.
    public mutating func setEdge(from: Int, to: Int, costMicros: Int64, quality: Double) {
        guard from != to else { return }
        costs[from * capacity + to] = max(1, costMicros)
        qualities[from * capacity + to] = min(1, max(0, quality.isNaN ? 0 : quality))
    }

    /// Both directions alike (a link measured by round trips).
    public mutating func setLink(_ a: Int, _ b: Int, _ estimate: LinkEstimate) {
        setEdge(from: a, to: b, costMicros: estimate.costMicros, quality: estimate.quality)
        setEdge(from: b, to: a, costMicros: estimate.costMicros, quality: estimate.quality)
    }

    public mutating func removeEdge(from: Int, to: Int) { costs[from * capacity + to] = -1 }

    /// Removes every edge into or out of `vertex`.
    public mutating func isolate(_ vertex: Int) {
        for other in 0..<count {
            costs[vertex * capacity + other] = -1
            costs[other * capacity + vertex] = -1
        }
    }

    /// The edge `from → to`, if there is one.
    public func edge(from: Int, to: Int) -> (costMicros: Int64, quality: Double)? {
        let cost = costs[from * capacity + to]
        return cost < 0 ? nil : (cost, qualities[from * capacity + to])
    }

    @inline(__always) func cost(_ from: Int, _ to: Int) -> Int64 { costs[from * capacity + to] }
    @inline(__always) func quality(_ from: Int, _ to: Int) -> Double { qualities[from * capacity + to] }
}

import Paths
import XCTest

/// The path model's search: the seed's worked example, thresholds, unreachable targets, cycles,
/// transit limits, the degraded fallback, and 10,000 random graphs against brute force.
final class PathFinderTests: XCTestCase {
    /// A (0) and B (1) are clients, C (2) a relay; A→B direct costs 10 ms, A→C→B 30 ms.
    private func seedGraph(direct quality: Double) -> PathGraph {
        var graph = PathGraph(capacity: 4)
        graph.reset(vertices: 3)
        graph.setEdge(from: 0, to: 1, costMicros: 10_000, quality: quality)
        graph.setEdge(from: 1, to: 0, costMicros: 10_000, quality: quality)
        for (a, b) in [(0, 2), (2, 1)] {
            graph.setEdge(from: a, to: b, costMicros: 15_000, quality: 0.9)
            graph.setEdge(from: b, to: a, costMicros: 15_000, quality: 0.9)
        }
        return graph
    }

    func testTheSeedExampleBothWays() {
        var finder = PathFinder(capacity: 4)
        let good = seedGraph(direct: 0.8)
        XCTAssertEqual(finder.choose(in: good, from: 0, to: 1, minQuality: 0.5)?.vertices, [0, 1], "A→B is good enough: use it")
        XCTAssertEqual(finder.choose(in: good, from: 1, to: 0, minQuality: 0.5)?.vertices, [1, 0])
        let bad = seedGraph(direct: 0.3)
        let detour = finder.choose(in: bad, from: 0, to: 1, minQuality: 0.5)
        XCTAssertEqual(detour?.vertices, [0, 2, 1], "A→B below t: go A→C→B")
        XCTAssertEqual(detour?.costMicros, 30_000)
        XCTAssertEqual(detour?.degraded, false)
        XCTAssertEqual(finder.choose(in: bad, from: 1, to: 0, minQuality: 0.5)?.vertices, [1, 2, 0])
    }

    func testAnEdgeExactlyAtTheThresholdCounts() {
        var finder = PathFinder(capacity: 4)
        let graph = seedGraph(direct: 0.5)
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 1, minQuality: 0.5)?.vertices, [0, 1], "quality == t meets t")
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 1, minQuality: 0.5000001)?.vertices, [0, 2, 1])
    }

    func testNoPathMeetingTheThresholdIsDegradedOrRefused() {
        var finder = PathFinder(capacity: 4)
        var graph = seedGraph(direct: 0.3)
        graph.setEdge(from: 2, to: 1, costMicros: 15_000, quality: 0.2)
        let fallback = finder.choose(in: graph, from: 0, to: 1, minQuality: 0.5)
        XCTAssertEqual(fallback?.vertices, [0, 1], "best bottleneck: 0.3 direct beats 0.2 via C")
        XCTAssertEqual(fallback?.degraded, true)
        XCTAssertEqual(fallback?.bottleneck ?? 0, 0.3, accuracy: 1e-12)
        XCTAssertNil(finder.choose(in: graph, from: 0, to: 1, minQuality: 0.5, strict: true), "path-strict: refuse")
    }

    func testDisconnectedAndSelf() {
        var finder = PathFinder(capacity: 5)
        var graph = PathGraph(capacity: 5)
        graph.reset(vertices: 5)
        graph.setEdge(from: 0, to: 1, costMicros: 5, quality: 1)
        graph.setEdge(from: 2, to: 3, costMicros: 5, quality: 1)
        XCTAssertNil(finder.choose(in: graph, from: 0, to: 3, minQuality: 0))
        XCTAssertNil(finder.choose(in: graph, from: 0, to: 4, minQuality: 0), "an isolated vertex")
        XCTAssertNil(finder.choose(in: graph, from: 1, to: 0, minQuality: 0), "edges are directed")
        XCTAssertEqual(finder.choose(in: graph, from: 2, to: 2, minQuality: 1)?.vertices, [2])
        XCTAssertNil(finder.choose(in: graph, from: 0, to: 9, minQuality: 0), "out of range")
    }

    func testCyclesDoNotTrapTheSearch() {
        var finder = PathFinder(capacity: 4)
        var graph = PathGraph(capacity: 4)
        graph.reset(vertices: 4)
        for (a, b) in [(0, 1), (1, 2), (2, 0), (2, 1), (1, 0)] { graph.setEdge(from: a, to: b, costMicros: 1, quality: 1) }
        graph.setEdge(from: 2, to: 3, costMicros: 1, quality: 1)
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 3, minQuality: 1)?.vertices, [0, 1, 2, 3])
    }

    func testTransitLimitsAndClientsDoNotRelay() {
        // 0 and 5 are clients; 1…4 relays in a chain, plus client 6 with cheap edges to both ends.
        var graph = PathGraph(capacity: 7)
        graph.reset(vertices: 7)
        for v in [0, 5, 6] { graph.setTransit(v, false) }
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)] { graph.setEdge(from: a, to: b, costMicros: 10, quality: 1) }
        graph.setEdge(from: 0, to: 6, costMicros: 1, quality: 1)
        graph.setEdge(from: 6, to: 5, costMicros: 1, quality: 1)
        var finder = PathFinder(capacity: 7)
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 5, minQuality: 0)?.vertices, [0, 1, 2, 3, 4, 5], "not through client 6")
        XCTAssertNil(finder.choose(in: graph, from: 0, to: 5, minQuality: 0, maxTransit: 2), "four relays needed, two allowed")
        graph.setEdge(from: 1, to: 4, costMicros: 100, quality: 1)
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 5, minQuality: 0, maxTransit: 2)?.vertices, [0, 1, 4, 5])
    }

    func testTiesAreBrokenTheSameWayEverywhere() {
        var graph = PathGraph(capacity: 5)
        graph.reset(vertices: 5)
        // 0→3→4 and 0→1→4 and 0→2→4 all cost 2; 0→4 costs 2 as well but has fewer edges.
        for mid in [3, 1, 2] {
            graph.setEdge(from: 0, to: mid, costMicros: 1, quality: 1)
            graph.setEdge(from: mid, to: 4, costMicros: 1, quality: 1)
        }
        var finder = PathFinder(capacity: 5)
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 4, minQuality: 0)?.vertices, [0, 1, 4], "lowest vertex order")
        graph.setEdge(from: 0, to: 4, costMicros: 2, quality: 1)
        XCTAssertEqual(finder.choose(in: graph, from: 0, to: 4, minQuality: 0)?.vertices, [0, 4], "fewer edges first")
    }

    /// 10,000 random graphs of 2…8 vertices: the finder's choice equals brute-force enumeration of
    /// every simple path under the same rules (threshold, transit, limit, fallback, tie order).
    func testAgreesWithBruteForceOnRandomGraphs() {
        var random = SplitMix64(seed: 0x5EED_1515)
        var finder = PathFinder(capacity: 8)
        var graph = PathGraph(capacity: 8)
        var degradedSeen = 0, unreachableSeen = 0, limitedSeen = 0
        for round in 0..<10_000 {
            let n = 2 + Int(random.next() % 7)
            graph.reset(vertices: n)
            let density = Double(random.next() % 100) / 100
            for a in 0..<n {
                if random.next() % 4 == 0 { graph.setTransit(a, false) }
                for b in 0..<n where a != b && Double(random.next() % 1000) / 1000 < density {
                    // Few distinct costs and qualities, so ties and edges at the threshold happen.
                    graph.setEdge(from: a, to: b, costMicros: Int64(1 + random.next() % 6), quality: Double(random.next() % 5) / 4)
                }
            }
            let from = Int(random.next() % UInt64(n)), to = Int(random.next() % UInt64(n))
            let t = Double(random.next() % 5) / 4
            let limit: Int? = random.next() % 2 == 0 ? nil : Int(random.next() % 3)
            let strict = random.next() % 5 == 0
            let expected = bruteForce(graph, from: from, to: to, minQuality: t, maxTransit: limit, strict: strict)
            let got = finder.choose(in: graph, from: from, to: to, minQuality: t, maxTransit: limit, strict: strict)
            XCTAssertEqual(got, expected, "round \(round): n \(n) \(from)→\(to) t \(t) limit \(String(describing: limit)) strict \(strict)")
            if got == nil { unreachableSeen += 1 } else if got!.degraded { degradedSeen += 1 }
            if limit != nil && expected != nil { limitedSeen += 1 }
            if got != expected { return }
        }
        XCTAssertGreaterThan(degradedSeen, 500, "the fallback was exercised")
        XCTAssertGreaterThan(unreachableSeen, 500, "so were unreachable targets")
        XCTAssertGreaterThan(limitedSeen, 500, "and transit limits")
    }

    private func bruteForce(_ graph: PathGraph, from: Int, to: Int, minQuality: Double, maxTransit: Int?, strict: Bool) -> PathChoice? {
        if from == to { return PathChoice(vertices: [from], costMicros: 0, bottleneck: 1, degraded: false) }
        var all: [(path: [Int], cost: Int64, bottleneck: Double)] = []
        func walk(_ path: [Int], _ cost: Int64, _ bottleneck: Double) {
            let last = path.last!
            if last == to { all.append((path, cost, bottleneck)); return }
            if last != from && !graph.isTransit(last) { return }
            if let maxTransit, path.count - 1 >= maxTransit + 1 { return }
            for next in 0..<graph.count where !path.contains(next) {
                if let edge = graph.edge(from: last, to: next) { walk(path + [next], cost + edge.costMicros, min(bottleneck, edge.quality)) }
            }
        }
        walk([from], 0, 1)
        func best(_ candidates: [(path: [Int], cost: Int64, bottleneck: Double)]) -> (path: [Int], cost: Int64, bottleneck: Double)? {
            candidates.min { a, b in
                if a.cost != b.cost { return a.cost < b.cost }
                if a.path.count != b.path.count { return a.path.count < b.path.count }
                return a.path.lexicographicallyPrecedes(b.path)
            }
        }
        if let good = best(all.filter { $0.bottleneck >= minQuality }) {
            return PathChoice(vertices: good.path, costMicros: good.cost, bottleneck: good.bottleneck, degraded: false)
        }
        guard !strict, let top = all.map(\.bottleneck).max(), let fallback = best(all.filter { $0.bottleneck >= top }) else { return nil }
        return PathChoice(vertices: fallback.path, costMicros: fallback.cost, bottleneck: fallback.bottleneck, degraded: true)
    }
}

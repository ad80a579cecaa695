import JSON
import MQTT
import MediaPlane
import Signaling
import XCTest

@testable import Control
@testable import Gateway

/// The Prometheus text exposition (version 0.0.4) and the `stats` JSON of the collector.
final class MetricsRenderingTests: XCTestCase {
    func testTextFormatEscapesHelpAndLabelValues() {
        var collector = MetricsCollector()
        collector.counter("drops_total", "Drops, by reason \\ cause.\nSecond line.", 3, [("reason", #"say "no"\now"#)])
        collector.counter("drops_total", "Drops, by reason \\ cause.\nSecond line.", 4, [("reason", "b")])
        collector.gauge("up", "Up.", 1)
        XCTAssertEqual(collector.prometheusText, #"""
        # HELP rtcgate_drops_total Drops, by reason \\ cause.\nSecond line.
        # TYPE rtcgate_drops_total counter
        rtcgate_drops_total{reason="say \"no\"\\now"} 3
        rtcgate_drops_total{reason="b"} 4
        # HELP rtcgate_up Up.
        # TYPE rtcgate_up gauge
        rtcgate_up 1

        """#)
    }

    func testStatsJSONGroupsLabelledSamplesUnderTheirName() {
        var collector = MetricsCollector()
        collector.gauge("workers", "Workers.", 2)
        collector.counter("drops_total", "Drops.", 3, [("reason", "a")])
        collector.counter("drops_total", "Drops.", 4, [("reason", "b")])
        XCTAssertEqual(collector.json, ["workers": 2, "drops_total": ["reason=a": 3, "reason=b": 4]])
    }

    /// Every plane's samples together form a valid exposition: legal names, counters named
    /// `_total`, and each metric's samples contiguous under one HELP/TYPE pair.
    func testEveryPlaneRendersAValidExposition() throws {
        var collector = MetricsCollector()
        collector.add(media: MediaCounters(), workers: 2)
        collector.add(control: ControlServerCounters())
        collector.add(signaling: SignalingCounters(), mqtt: .init(), connected: true, pending: 0)
        let lines = collector.prometheusText.split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(lines.count, 60)
        var finished = Set<String>(), current = ""
        for line in lines {
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                XCTAssertFalse(finished.contains(name), "\(name) described twice or its samples are split")
                if !current.isEmpty { finished.insert(current) }
                current = name
                XCTAssertTrue(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") } && name.hasPrefix("rtcgate_"), name)
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                XCTAssertEqual(String(parts[2]), current, "TYPE follows its HELP")
                XCTAssertTrue(parts[3] == "gauge" || (parts[3] == "counter" && current.hasSuffix("_total")), line)
                continue
            }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            XCTAssertEqual(name, current, "sample \(line) outside its block")
            XCTAssertNotNil(UInt64(line.split(separator: " ").last ?? ""), line)
        }
    }
}

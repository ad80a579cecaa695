import JSON
import XCTest
@testable import Signaling

/// Randomized robustness: ~20k random and mutated payloads must never crash, and the router's
/// output must always be valid JSON addressed to a down topic.
final class RobustnessTests: XCTestCase {
    func testRandomAndMutatedPayloads() throws {
        var rng = SplitMix64(state: 0xC0FFEE)
        let h = Harness()
        h.online("cam-1", "cam-2", "viewer-1", "ro-viewer")
        let seedTexts: [String] = [
            offer(sid: "s", to: "cam-1", mid: "m", sdp: "v=0\r\nc=IN IP4 10.0.0.1\r\na=candidate:1 1 udp 1 10.0.0.1 9 typ relay raddr 1.2.3.4 rport 5\r\n"),
            answer(sid: "s", to: "viewer-1"),
            candidates(sid: "s", to: "ro-viewer", ["candidate:3 1 udp 4 1.2.3.4 5 typ relay raddr 6.7.8.9 rport 1", ""]),
            end(sid: "s", to: "cam-2", reason: "busy"),
            #"{"v":1,"type":"ICE_CONFIG_REQUEST","mid":12,"body":{}}"#,
            #"{"a":[{"b":"\ud83d\ude00\u0000"}],"n":-1.5e3,"t":true,"f":false,"z":null}"#,
            #"{"state":"online"}"#,
        ]
        let seeds = seedTexts.map { Array($0.utf8) }
        let ids = ["cam-1", "cam-2", "viewer-1", "ro-viewer", "ghost", "_gw"]
        let interesting: [UInt8] = Array(#"{}[]",:\u0123456789.eE+-truefalsenull "#.utf8) + [0x00, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        var outputs = 0
        for i in 0..<20_000 {
            var payload: [UInt8]
            if i % 4 == 0 {
                payload = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in
                    Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
                }
            } else {
                payload = seeds.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !payload.isEmpty {
                    let at = Int.random(in: 0..<payload.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: payload[at] = interesting.randomElement(using: &rng)!
                    case 1: payload.remove(at: at)
                    case 2: payload.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    default: payload.replaceSubrange(at..., with: payload[at...].prefix(Int.random(in: 0...8, using: &rng)))
                    }
                }
            }
            if i % 1000 == 0 { payload = Array(repeating: 0x5B, count: 5000) }  // deep nesting attempt
            let id = ids.randomElement(using: &rng)!
            let kind = Int.random(in: 0..<10, using: &rng)
            let topic = kind == 0 ? "rtc/v1/status/\(id)" : (kind == 1 ? "rtc/v1/up/\(id)/x" : "rtc/v1/up/\(id)")
            let out = h.raw(topic, payload, correlation: Bool.random(using: &rng) ? [1] : nil)
            if i % 500 == 0 { h.advance(ms: 40_000); h.tick() }
            for message in out {
                XCTAssertTrue(message.topic.hasPrefix("rtc/v1/down/"), message.topic)
                XCTAssertNoThrow(try JSONParser.parse(message.payload))
                outputs += 1
            }
            // The parser and filters alone.
            _ = try? JSONParser.parse(payload)
            let text = String(decoding: payload, as: UTF8.self)
            _ = RelayOnlyFilter.filterSDP(text)
            _ = RelayOnlyFilter.filterCandidate(text)
        }
        XCTAssertGreaterThan(outputs, 1000, "the mutations still exercise the reply paths")
        XCTAssertLessThanOrEqual(h.router.liveSessionCount, SignalingConfig().maxSessions)
        let c = h.router.counters
        XCTAssertEqual(c.messagesIn + c.statusMessagesIn + c.ignoredTopics, 20_000 + 4)
    }
}

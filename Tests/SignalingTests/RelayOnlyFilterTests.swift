import XCTest
@testable import Signaling

final class RelayOnlyFilterTests: XCTestCase {
    // Chrome-style browser candidates (RTCIceCandidate.candidate).
    let chromeHost = "candidate:2999745851 1 udp 2122260223 192.168.1.20 54400 typ host generation 0 ufrag EsAw network-id 1 network-cost 10"
    let chromeMDNS = "candidate:3 1 udp 2113937151 5c2b2f6e-8c5a-4bd4-9a1c-1a1f1f1f1f1f.local 54402 typ host generation 0 ufrag EsAw network-cost 999"
    let chromeIPv6 = "candidate:1 1 udp 2122262783 2001:db8::1 54401 typ host generation 0 ufrag EsAw network-id 2"
    let chromeTCP = "candidate:4 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0 ufrag EsAw network-id 1"
    let chromeSrflx = "candidate:842163049 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 192.168.1.20 rport 54400 generation 0 ufrag EsAw network-cost 999"
    let chromePrflx = "candidate:7 1 udp 1845501695 198.51.100.20 50123 typ prflx raddr 192.168.1.20 rport 50123 generation 0 ufrag EsAw"
    let chromeRelay = "candidate:5 1 udp 41885439 198.51.100.9 61000 typ relay raddr 203.0.113.7 rport 54400 generation 0 ufrag EsAw network-cost 999"
    let relayIPv6 = "candidate:9 1 udp 16777215 2001:db8:1::9 61001 typ relay raddr 2001:db8::1 rport 50001"
    let relayTCP = "candidate:10 1 tcp 8331263 198.51.100.9 61002 typ relay raddr 192.168.1.20 rport 9 tcptype passive"

    func testDropsNonRelayCandidates() {
        for c in [chromeHost, chromeMDNS, chromeIPv6, chromeTCP, chromeSrflx, chromePrflx] {
            XCTAssertNil(RelayOnlyFilter.filterCandidate(c), c)
            XCTAssertNil(RelayOnlyFilter.filterCandidate("a=" + c), c)
        }
    }

    func testRewritesRelayRelatedAddress() {
        XCTAssertEqual(RelayOnlyFilter.filterCandidate(chromeRelay),
                       "candidate:5 1 udp 41885439 198.51.100.9 61000 typ relay raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-cost 999")
        XCTAssertEqual(RelayOnlyFilter.filterCandidate(relayIPv6),
                       "candidate:9 1 udp 16777215 2001:db8:1::9 61001 typ relay raddr 0.0.0.0 rport 0")
        XCTAssertEqual(RelayOnlyFilter.filterCandidate(relayTCP),
                       "candidate:10 1 tcp 8331263 198.51.100.9 61002 typ relay raddr 0.0.0.0 rport 0 tcptype passive")
        let noRaddr = "candidate:11 1 udp 16777215 198.51.100.9 61003 typ relay"
        XCTAssertEqual(RelayOnlyFilter.filterCandidate(noRaddr), noRaddr)
    }

    func testEdgeCases() {
        XCTAssertEqual(RelayOnlyFilter.filterCandidate(""), "")  // end-of-candidates
        XCTAssertNil(RelayOnlyFilter.filterCandidate("garbage"))
        XCTAssertNil(RelayOnlyFilter.filterCandidate("candidate:1 1 udp 1 1.2.3.4 5 typx relay"))
        XCTAssertNil(RelayOnlyFilter.filterCandidate("candidate:1 1 udp 1 1.2.3.4 5 typ RELAY"))
        // "raddr" as an extension value is not mistaken for the keyword.
        XCTAssertEqual(RelayOnlyFilter.filterCandidate("candidate:1 1 udp 1 1.2.3.4 5 typ relay foo raddr"),
                       "candidate:1 1 udp 1 1.2.3.4 5 typ relay foo raddr")
    }

    func testChromeOfferSDP() {
        let sdp = [
            "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
            "m=audio 54400 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 203.0.113.7", "a=rtcp:9 IN IP4 0.0.0.0",
            "a=" + chromeSrflx, "a=" + chromeHost, "a=" + chromeIPv6, "a=" + chromeMDNS, "a=" + chromeTCP, "a=" + chromeRelay,
            "a=ice-ufrag:EsAw", "a=mid:0",
            "m=application 54402 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP6 2001:db8::1", "a=rtcp:54403 IN IP4 192.168.1.20",
            "a=mid:1", "a=sctp-port:5000", "",
        ].joined(separator: "\r\n")
        let expected = [
            "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
            "m=audio 54400 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
            "a=candidate:5 1 udp 41885439 198.51.100.9 61000 typ relay raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-cost 999",
            "a=ice-ufrag:EsAw", "a=mid:0",
            "m=application 54402 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP6 ::", "a=rtcp:54403 IN IP4 0.0.0.0",
            "a=mid:1", "a=sctp-port:5000", "",
        ].joined(separator: "\r\n")
        XCTAssertEqual(RelayOnlyFilter.filterSDP(sdp), expected)
    }

    func testAiortcStyleSDPKeepsRelayConnectionAddress() {
        let sdp = """
            v=0
            o=- 3905421234 3905421234 IN IP4 0.0.0.0
            s=-
            t=0 0
            m=application 61000 DTLS/SCTP 5000
            c=IN IP4 198.51.100.9
            a=mid:0
            a=candidate:a1b2 1 udp 2130706431 192.168.1.30 50000 typ host
            a=candidate:c3d4 1 udp 1694498815 203.0.113.8 50000 typ srflx raddr 192.168.1.30 rport 50000
            a=candidate:e5f6 1 udp 16777215 198.51.100.9 61000 typ relay raddr 192.168.1.30 rport 50001
            a=end-of-candidates
            a=rtcp:61000 IN IP4 198.51.100.9/127

            """
        let expected = """
            v=0
            o=- 3905421234 3905421234 IN IP4 0.0.0.0
            s=-
            t=0 0
            m=application 61000 DTLS/SCTP 5000
            c=IN IP4 198.51.100.9
            a=mid:0
            a=candidate:e5f6 1 udp 16777215 198.51.100.9 61000 typ relay raddr 0.0.0.0 rport 0
            a=end-of-candidates
            a=rtcp:61000 IN IP4 198.51.100.9/127

            """
        XCTAssertEqual(RelayOnlyFilter.filterSDP(sdp), expected)
    }

    func testLineEndingsPreservedAndNoTrailingNewline() {
        XCTAssertEqual(RelayOnlyFilter.filterSDP("v=0\r\nc=IN IP4 10.0.0.1\r\na=candidate:1 1 udp 1 10.0.0.1 9 typ host"),
                       "v=0\r\nc=IN IP4 0.0.0.0\r\n")
        XCTAssertEqual(RelayOnlyFilter.filterSDP("v=0\nc=IN IP4 10.0.0.1/64\n"), "v=0\nc=IN IP4 0.0.0.0\n")
        XCTAssertEqual(RelayOnlyFilter.filterSDP(""), "")
        XCTAssertEqual(RelayOnlyFilter.filterSDP("c=IN"), "c=IN")
    }

    func testCandidateObjects() {
        let kept = RelayOnlyFilter.filterCandidateObject(["candidate": .string(chromeRelay), "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "EsAw"])
        XCTAssertEqual(kept?["candidate"]?.stringValue, RelayOnlyFilter.filterCandidate(chromeRelay))
        XCTAssertEqual(kept?["usernameFragment"], "EsAw")
        XCTAssertNil(RelayOnlyFilter.filterCandidateObject(["candidate": .string(chromeHost), "sdpMid": "0"]))
        XCTAssertNil(RelayOnlyFilter.filterCandidateObject("x"))
    }
}

/// The signaling messages the bench writes (JSON built by hand: no Foundation in the tool).
/// Envelopes follow docs/signaling.md v1: `{"v":1,"type":…,"sid":…,"to":…,"seq":…,"body":{…}}`.
enum SignalWire {
    /// The one host candidate every CANDIDATES message carries (browser form).
    static let candidate =
        #"{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}"#

    /// CANDIDATES as a client publishes it on its own `up` topic; `ts` is the send time (ns since
    /// the run's epoch), in the body so that it is forwarded unchanged.
    static func candidatesUp(sid: String, to peer: String, seq: UInt64, ts: UInt64) -> [UInt8] {
        Array(#"{"v":1,"type":"CANDIDATES","sid":"\#(sid)","to":"\#(peer)","seq":\#(seq),"body":{"candidates":[\#(candidate)],"ts":\#(ts)}}"#.utf8)
    }

    /// The same message as rtcgate forwards it on the peer's `down` topic (`from` stamped, no
    /// `to`): what the direct baseline publishes.
    static func candidatesDown(sid: String, from sender: String, seq: UInt64, ts: UInt64) -> [UInt8] {
        Array(#"{"v":1,"type":"CANDIDATES","sid":"\#(sid)","from":"\#(sender)","seq":\#(seq),"body":{"candidates":[\#(candidate)],"ts":\#(ts)}}"#.utf8)
    }

    /// An OFFER (viewer → device) carrying `mid`, so rtcgate answers with a STATUS.
    static func offer(sid: String, to peer: String, mid: String, sdp: String) -> [UInt8] {
        Array(#"{"v":1,"type":"OFFER","sid":"\#(sid)","to":"\#(peer)","mid":"\#(mid)","body":{"sdp":"\#(sdp)"}}"#.utf8)
    }

    /// An ANSWER (device → viewer) carrying `mid`.
    static func answer(sid: String, to peer: String, mid: String, sdp: String) -> [UInt8] {
        Array(#"{"v":1,"type":"ANSWER","sid":"\#(sid)","to":"\#(peer)","mid":"\#(mid)","body":{"sdp":"\#(sdp)"}}"#.utf8)
    }

    /// END {reason: hangup}, sent by the viewer when the run is over.
    static func end(sid: String, to peer: String) -> [UInt8] {
        Array(#"{"v":1,"type":"END","sid":"\#(sid)","to":"\#(peer)","body":{"reason":"hangup"}}"#.utf8)
    }

    /// What the direct baseline sends each client first, to learn that its subscription is live.
    static func probe(from sender: String) -> [UInt8] {
        Array(#"{"v":1,"type":"BENCH_PROBE","from":"\#(sender)","body":{}}"#.utf8)
    }

    /// `{"state":"online"}` / `{"state":"offline"}` for the retained status topic.
    static func presence(online: Bool) -> [UInt8] {
        Array((online ? #"{"state":"online"}"# : #"{"state":"offline"}"#).utf8)
    }

    /// A Chrome-like SDP of at least `targetBytes` (audio, video with as many codecs as it takes,
    /// data channel), already escaped for a JSON string (CRLF written as `\\r\\n`).
    static func sdp(answer: Bool, session: Int, targetBytes: Int) -> String {
        let ufrag = "bq\(session % 10_000)"
        let setup = answer ? "active" : "actpass"
        var fingerprint: [String] = []
        for i in 0..<32 { fingerprint.append(hexByte(UInt8(truncatingIfNeeded: session &* 31 &+ i &* 7))) }
        let transport = [
            "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:\(ufrag)",
            "a=ice-pwd:benchpassword\(ufrag)0123456789", "a=ice-options:trickle",
            "a=fingerprint:sha-256 " + fingerprint.joined(separator: ":"), "a=setup:\(setup)",
        ]
        let extmaps = [
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        ]
        let head = ["v=0", "o=- \(4_611_731_400_430_051_336 &+ session) 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
                    "a=group:BUNDLE 0 1 2", "a=extmap-allow-mixed", "a=msid-semantic: WMS bench"]
        let audio = ["m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126"] + transport + ["a=mid:0"] + extmaps + [
            "a=sendrecv", "a=msid:bench audio0", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
            "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1", "a=rtpmap:63 red/48000/2",
            "a=fmtp:63 111/111", "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:13 CN/8000", "a=rtpmap:110 telephone-event/48000", "a=rtpmap:126 telephone-event/8000",
            "a=ssrc:\(1000 + session) cname:bench\(session)",
        ]
        let data = ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel"] + transport
            + ["a=mid:2", "a=sctp-port:5000", "a=max-message-size:262144"]
        let videoHead = transport + ["a=mid:1"] + extmaps + ["a=sendrecv", "a=msid:bench video0", "a=rtcp-mux", "a=rtcp-rsize"]
        let videoTail = ["a=ssrc-group:FID \(2000 + session) \(3000 + session)",
                         "a=ssrc:\(2000 + session) cname:bench\(session)", "a=ssrc:\(3000 + session) cname:bench\(session)"]
        let fixed = (head + audio + videoHead + videoTail + data).reduce(0) { $0 + $1.utf8.count + 2 } + 40
        let codecs = ["VP8", "VP9", "H264", "AV1", "H264", "VP9", "H264", "H264", "H265", "H264", "VP9", "H264", "H264", "AV1", "H264", "VP9"]
        var payloadTypes: [String] = []
        var codecLines: [String] = []
        var size = fixed
        var i = 0
        while size < targetBytes && i < codecs.count {
            let pt = 96 + 2 * i, rtx = pt + 1
            var lines = ["a=rtpmap:\(pt) \(codecs[i])/90000", "a=rtcp-fb:\(pt) goog-remb", "a=rtcp-fb:\(pt) transport-cc",
                         "a=rtcp-fb:\(pt) ccm fir", "a=rtcp-fb:\(pt) nack", "a=rtcp-fb:\(pt) nack pli"]
            if codecs[i] == "H264" {
                lines.append("a=fmtp:\(pt) level-asymmetry-allowed=1;packetization-mode=\(i % 2);profile-level-id=42e01f")
            }
            lines += ["a=rtpmap:\(rtx) rtx/90000", "a=fmtp:\(rtx) apt=\(pt)"]
            payloadTypes += ["\(pt)", "\(rtx)"]
            codecLines += lines
            size += lines.reduce(8) { $0 + $1.utf8.count + 2 }
            i += 1
        }
        let video = ["m=video 9 UDP/TLS/RTP/SAVPF " + payloadTypes.joined(separator: " ")] + videoHead + codecLines + videoTail
        return (head + audio + video + data).joined(separator: "\\r\\n") + "\\r\\n"
    }

    private static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}

/// Reads fields of a received JSON envelope without parsing all of it: the value after the first
/// `"key":` (whitespace allowed around the colon). Keys inside string values are escaped (`\"`),
/// so they cannot match. Enough for the flat envelopes rtcgate forwards; not a JSON parser.
struct JSONFields {
    let bytes: UnsafeRawBufferPointer

    /// The raw text of a string value (ids and error names carry no escapes).
    func string(_ key: String) -> String? {
        guard var i = valueStart(key), i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        let start = i
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard i <= bytes.count else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(i, bytes.count)]), as: UTF8.self)
    }

    /// True when the string value of `key` is exactly `value`.
    func has(_ key: String, _ value: String) -> Bool {
        guard var i = valueStart(key), i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
        i += 1
        for b in value.utf8 {
            guard i < bytes.count, bytes[i] == b else { return false }
            i += 1
        }
        return i < bytes.count && bytes[i] == UInt8(ascii: "\"")
    }

    /// A non-negative number value (integer, or written as a float by a re-encoder).
    func number(_ key: String) -> UInt64? {
        guard var i = valueStart(key) else { return nil }
        var whole: UInt64 = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            whole = whole &* 10 &+ UInt64(bytes[i] - UInt8(ascii: "0"))
            i += 1; digits += 1
        }
        guard digits > 0 else { return nil }
        guard i < bytes.count, bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") else {
            return whole
        }
        // 1.23e+12 and the like: re-read the token as a Double.
        var end = i
        while end < bytes.count, "0123456789.eE+-".utf8.contains(bytes[end]) { end += 1 }
        let start = valueStart(key)!
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        guard let value = Double(text), value >= 0, value < 1.8e19 else { return nil }
        return UInt64(value.rounded())
    }

    /// Index of the first byte of the value of `key`, or nil.
    private func valueStart(_ key: String) -> Int? {
        let pattern = Array("\"\(key)\"".utf8)
        guard bytes.count >= pattern.count else { return nil }
        var i = 0
        let last = bytes.count - pattern.count
        search: while i <= last {
            if bytes[i] != pattern[0] { i += 1; continue }
            for j in 1..<pattern.count where bytes[i + j] != pattern[j] { i += 1; continue search }
            var k = i + pattern.count
            while k < bytes.count, bytes[k] == 0x20 || bytes[k] == 0x09 || bytes[k] == 0x0A || bytes[k] == 0x0D { k += 1 }
            if k < bytes.count, bytes[k] == UInt8(ascii: ":") {
                k += 1
                while k < bytes.count, bytes[k] == 0x20 || bytes[k] == 0x09 || bytes[k] == 0x0A || bytes[k] == 0x0D { k += 1 }
                return k
            }
            i += 1
        }
        return nil
    }
}

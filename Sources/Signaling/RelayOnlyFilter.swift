import JSON
/// Relay-only privacy: keeps LAN and public addresses out of a session where either party is
/// `relayOnly` (sig-spec "Relay-only privacy").
///
/// - Candidates whose `typ` is not `relay` are dropped (host, srflx, prflx, mDNS `.local`, …).
/// - Relay candidates keep their relay address but get `raddr 0.0.0.0 rport 0`.
/// - In SDP, `c=` and `a=rtcp:` addresses become `0.0.0.0` (`::` for IP6) unless they are the
///   address of a relay candidate in the same SDP. Line endings (CRLF or LF) are preserved.
/// - An empty candidate string (end-of-candidates) is kept. Malformed candidates are dropped.
public enum RelayOnlyFilter {
    /// Filters one candidate (`candidate:…`, or `a=candidate:…`): `nil` means drop it.
    public static func filterCandidate(_ candidate: String) -> String? {
        if candidate.isEmpty { return candidate }
        guard let rewritten = rewriteCandidate(Array(candidate.utf8)[...]) else { return nil }
        return String(decoding: rewritten, as: UTF8.self)
    }

    /// Filters the candidates and connection addresses of an SDP.
    public static func filterSDP(_ sdp: String) -> String {
        let lines = Array(sdp.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
        var relayAddresses = Set<ArraySlice<UInt8>>()
        for line in lines {
            let content = line.last == 0x0D ? line.dropLast() : line
            if content.starts(with: candidatePrefix), let fields = relayFields(content) {
                relayAddresses.insert(fields[4])
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(sdp.utf8.count)
        for (index, line) in lines.enumerated() {
            let hasCR = line.last == 0x0D
            let content = hasCR ? line.dropLast() : line
            let kept: [UInt8]?
            if content.starts(with: candidatePrefix) {
                kept = rewriteCandidate(content)
            } else if content.starts(with: connectionPrefix) {
                kept = hideAddress(content, at: 2, unlessIn: relayAddresses)
            } else if content.starts(with: rtcpPrefix) {
                kept = hideAddress(content, at: 3, unlessIn: relayAddresses)
            } else {
                kept = Array(content)
            }
            guard let kept else { continue }  // a dropped line goes with its line ending
            out.append(contentsOf: kept)
            if hasCR { out.append(0x0D) }
            if index < lines.count - 1 { out.append(0x0A) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Filters a browser-form candidate object (`{candidate, sdpMid, sdpMLineIndex}`).
    static func filterCandidateObject(_ value: JSONValue) -> JSONValue? {
        guard case .object(var members) = value,
            let i = members.firstIndex(where: { $0.0 == "candidate" }),
            let candidate = members[i].1.stringValue,
            let filtered = filterCandidate(candidate)
        else { return nil }
        members[i].1 = .string(filtered)
        return .object(members)
    }

    private static let candidatePrefix = Array("a=candidate:".utf8)
    private static let connectionPrefix = Array("c=".utf8)
    private static let rtcpPrefix = Array("a=rtcp:".utf8)
    private static let space: UInt8 = 0x20

    /// Fields of a relay candidate: foundation component transport priority address port
    /// `typ relay` [name value]…; `nil` if it is not a well-formed relay candidate.
    private static func relayFields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>]? {
        let fields = line.split(separator: space, omittingEmptySubsequences: false)
        guard fields.count >= 8, fields[6].elementsEqual("typ".utf8), fields[7].elementsEqual("relay".utf8) else {
            return nil
        }
        return fields
    }

    private static func rewriteCandidate(_ line: ArraySlice<UInt8>) -> [UInt8]? {
        guard var fields = relayFields(line) else { return nil }
        var i = 8
        while i + 1 < fields.count {
            if fields[i].elementsEqual("raddr".utf8) {
                fields[i + 1] = ArraySlice("0.0.0.0".utf8)
            } else if fields[i].elementsEqual("rport".utf8) {
                fields[i + 1] = ArraySlice("0".utf8)
            }
            i += 2
        }
        return Array(fields.joined(separator: [space]))
    }

    /// Replaces the address field at `index` (preceded by its `IP4`/`IP6` type) with the
    /// unspecified address, unless it is a relay address.
    private static func hideAddress(_ line: ArraySlice<UInt8>, at index: Int, unlessIn relay: Set<ArraySlice<UInt8>>) -> [UInt8] {
        var fields = line.split(separator: space, omittingEmptySubsequences: false)
        guard fields.count > index else { return Array(line) }
        let address = fields[index].split(separator: 0x2F, maxSplits: 1, omittingEmptySubsequences: false)[0]  // drop /ttl
        guard !relay.contains(address) else { return Array(line) }
        fields[index] = fields[index - 1].elementsEqual("IP6".utf8) ? ArraySlice("::".utf8) : ArraySlice("0.0.0.0".utf8)
        return Array(fields.joined(separator: [space]))
    }
}

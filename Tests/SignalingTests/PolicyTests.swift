import XCTest
@testable import Signaling

final class PolicyTests: XCTestCase {
    let policy = SignalingPolicy(clients: [
        ClientRecord(id: "cam-1", role: .device, groups: ["home", "garage"]),
        ClientRecord(id: "viewer-1", role: .viewer, groups: ["home"]),
        ClientRecord(id: "guest", role: .viewer, allow: ["cam-1"]),
        ClientRecord(id: "cam-2", role: .device, groups: ["office"], allow: ["viewer-2"]),
        ClientRecord(id: "viewer-2", role: .viewer),
        ClientRecord(id: "_gw", role: .viewer, groups: ["home"]),
        ClientRecord(id: "bad/id", role: .viewer, groups: ["home"]),
    ])

    func testMayTalk() {
        XCTAssertTrue(policy.mayTalk("cam-1", "viewer-1"))   // shared group
        XCTAssertTrue(policy.mayTalk("viewer-1", "cam-1"))
        XCTAssertTrue(policy.mayTalk("guest", "cam-1"))      // guest's allow list
        XCTAssertTrue(policy.mayTalk("cam-1", "guest"))
        XCTAssertTrue(policy.mayTalk("viewer-2", "cam-2"))   // cam-2's allow list
        XCTAssertFalse(policy.mayTalk("viewer-1", "cam-2"))
        XCTAssertFalse(policy.mayTalk("guest", "viewer-1"))
        XCTAssertFalse(policy.mayTalk("cam-1", "cam-1"))
        XCTAssertFalse(policy.mayTalk("cam-1", "nobody"))
        XCTAssertFalse(policy.mayTalk("nobody", "cam-1"))
    }

    func testReservedAndInvalidIdsAreNotProvisioned() {
        XCTAssertNil(policy.record("_gw"))
        XCTAssertNil(policy.record("bad/id"))
        XCTAssertFalse(policy.mayTalk("_gw", "cam-1"))
        XCTAssertEqual(policy.count, 5)
        XCTAssertEqual(policy.clientIds, ["cam-1", "cam-2", "guest", "viewer-1", "viewer-2"])
    }

    func testParseClientLine() throws {
        XCTAssertEqual(try SignalingPolicy.parseClientLine("cam-1 role=device groups=home,garage allow=v.1,v_2 relay-only"),
                       ClientRecord(id: "cam-1", role: .device, groups: ["home", "garage"], allow: ["v.1", "v_2"], relayOnly: true))
        XCTAssertEqual(try SignalingPolicy.parseClientLine("  viewer-1\trole=viewer  "),
                       ClientRecord(id: "viewer-1", role: .viewer))
        XCTAssertEqual(try SignalingPolicy.parseClientLine("signal-client = v role=viewer groups=a"),
                       ClientRecord(id: "v", role: .viewer, groups: ["a"]))
    }

    func testParseClientLineErrors() {
        let cases: [(String, String)] = [
            ("", "signal-client: missing client id"),
            ("_gw role=device", "signal-client: client id '_gw' is reserved (ids starting with '_' belong to rtcgate)"),
            ("cam#1 role=device", "signal-client: invalid client id 'cam#1' (1-64 bytes of A-Z a-z 0-9 . _ -)"),
            (String(repeating: "a", count: 65) + " role=device", "signal-client: invalid client id '\(String(repeating: "a", count: 65))' (1-64 bytes of A-Z a-z 0-9 . _ -)"),
            ("cam-1", "signal-client cam-1: missing role=device|viewer"),
            ("cam-1 role=camera", "signal-client cam-1: role must be 'device' or 'viewer', not 'camera'"),
            ("cam-1 role=device role=viewer", "signal-client cam-1: 'role' given twice"),
            ("cam-1 role=device groups=a,,b", "signal-client cam-1: invalid group name '' (1-64 bytes of A-Z a-z 0-9 . _ -)"),
            ("cam-1 role=device groups=", "signal-client cam-1: invalid group name '' (1-64 bytes of A-Z a-z 0-9 . _ -)"),
            ("cam-1 role=device allow=x/y", "signal-client cam-1: invalid client id 'x/y' (1-64 bytes of A-Z a-z 0-9 . _ -)"),
            ("cam-1 role=device allow=_gw", "signal-client cam-1: allow lists reserved id '_gw'"),
            ("cam-1 role=device relay-only relay-only", "signal-client cam-1: 'relay-only' given twice"),
            ("cam-1 role=device colour=red", "signal-client cam-1: unknown option 'colour' (expected role=, groups=, allow=, site= or relay-only)"),
            ("cam-1 role=device fast", "signal-client cam-1: unknown option 'fast' (expected role=, groups=, allow=, site= or relay-only)"),
        ]
        for (line, message) in cases {
            XCTAssertThrowsError(try SignalingPolicy.parseClientLine(line), line) { error in
                XCTAssertEqual((error as? SignalingPolicyError)?.message, message)
            }
        }
    }

    func testClientIDRules() {
        XCTAssertTrue(ClientID.isValidSyntax("A-z.0_9"))
        XCTAssertTrue(ClientID.isValidSyntax(String(repeating: "x", count: 64)))
        XCTAssertFalse(ClientID.isValidSyntax(String(repeating: "x", count: 65)))
        XCTAssertFalse(ClientID.isValidSyntax(""))
        XCTAssertFalse(ClientID.isValidSyntax("a b"))
        XCTAssertFalse(ClientID.isValidSyntax("a+"))
        XCTAssertFalse(ClientID.isValidSyntax("é"))
        XCTAssertTrue(ClientID.isReserved("_x"))
        XCTAssertFalse(ClientID.isReserved("x_"))
    }
}

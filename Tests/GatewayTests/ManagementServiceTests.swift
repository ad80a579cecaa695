import Control
import Foundation
import JSON
import Reactor
import STUN
import TestSupport
import XCTest

@testable import Gateway
@testable import MediaPlane

/// The control commands of docs/control.md as `ManagementService` dispatches them: arguments
/// checked, errors named, store changes written before they are applied to the planes.
final class ManagementServiceTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var gateway: RecordingGateway!
    private var service: ManagementService!
    private let peer = ControlPeer(pid: 1, uid: 0, gid: 0)

    override func setUpWithError() throws {
        directory = TemporaryDirectory()
        gateway = RecordingGateway(store: try ProvisioningStore(directory: directory.path))
        service = ManagementService(gateway: gateway)
    }

    override func tearDown() { directory.remove() }

    /// Runs one command; the reply must come synchronously (no broker involved).
    private func run(_ command: String, _ args: JSONValue = .object([])) -> ControlResponse.Outcome? {
        var outcome: ControlResponse.Outcome?
        service.handle(ControlRequest(id: 7, command: command, args: args), peer: peer) { response in
            XCTAssertEqual(response.id, 7)
            outcome = response.outcome
        }
        return outcome
    }

    private func result(_ command: String, _ args: JSONValue = .object([]), file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        let outcome = run(command, args)
        guard case .ok(let value)? = outcome else {
            XCTFail("\(command) did not succeed: \(String(describing: outcome))", file: file, line: line)
            return nil
        }
        return value
    }

    private func errorCode(_ command: String, _ args: JSONValue = .object([])) -> ControlErrorCode? {
        guard case .error(let code, _)? = run(command, args) else { return nil }
        return code
    }

    func testReadOnlyCommandsAskTheGateway() {
        XCTAssertEqual(result("status"), ["version": "test"])
        XCTAssertEqual(result("stats"), ["up": 1])
        XCTAssertEqual(result("stats.prometheus")?["text"]?.stringValue, "# HELP rtcgate_up Up.\n# TYPE rtcgate_up gauge\nrtcgate_up 1\n")
        XCTAssertEqual(result("config.show"), ["realm": "test.realm"])
        XCTAssertEqual(gateway.calls, ["status", "metrics", "metrics", "config"])
    }

    func testUnknownCommandsAndArgumentsAreRefusedByName() {
        XCTAssertEqual(errorCode("no.such"), .unknownCommand)
        XCTAssertEqual(errorCode("status", ["verbose": true]), .badRequest)
        XCTAssertEqual(errorCode("log.level", ["level": "loud"]), .badRequest)
        XCTAssertEqual(errorCode("log.level", ["level": 3]), .badRequest)
        XCTAssertEqual(errorCode("drain", ["graceSec": -1]), .badRequest)
        XCTAssertEqual(errorCode("allocation.kill", ["client": "not-an-address"]), .badRequest)
        XCTAssertEqual(errorCode("session.end", ["sid": "s", "a": "x", "b": "y", "reason": "bored"]), .badRequest)
        XCTAssertEqual(gateway.calls, [], "nothing reached the gateway")
    }

    func testLiveChangesReachTheGateway() {
        XCTAssertEqual(result("log.level", ["level": "debug"]), ["level": "debug"])
        XCTAssertEqual(result("drain", ["graceSec": 5]), ["draining": true])
        XCTAssertEqual(result("reload"), ["restartNeeded": false])
        gateway.reloadOutcome = nil
        XCTAssertEqual(errorCode("reload"), .badRequest, "an invalid configuration is refused")
        XCTAssertEqual(gateway.calls, ["log:debug", "drain:5", "reload", "reload"])
    }

    func testSignalingCommandsNeedTheSignalingPlane() {
        XCTAssertEqual(errorCode("session.list"), .unavailable)
        XCTAssertEqual(errorCode("session.end", ["sid": "s", "a": "x", "b": "y"]), .unavailable)
        XCTAssertEqual(errorCode("device.add", ["id": "cam-1", "broker": true]), .unavailable)
    }

    func testAllocationsAreListedAndKilledByClient() throws {
        let client = try XCTUnwrap(TransportAddress(SocketAddress(hostPort: "198.51.100.7:40000")!))
        let relayed = try XCTUnwrap(TransportAddress(SocketAddress(hostPort: "203.0.113.1:50000")!))
        gateway.allocationList = [AllocationInfo(worker: 0, client: client, transport: "udp", relayed: relayed, additionalRelayed: nil,
                                                 user: "alice", ageSeconds: 3, lifetimeSeconds: 597, bytesToPeer: 10, bytesToClient: 20,
                                                 permissions: 1, channels: 0)]
        let listed = try XCTUnwrap(result("allocation.list")?["allocations"]?.arrayValue)
        XCTAssertEqual(listed.first?["client"]?.stringValue, "198.51.100.7:40000")
        XCTAssertEqual(listed.first?["user"]?.stringValue, "alice")
        XCTAssertEqual(result("allocation.kill", ["client": "198.51.100.7:40000"]), ["killed": 1])
        XCTAssertEqual(errorCode("allocation.kill", ["client": "198.51.100.8:40000"]), .notFound)
    }

    /// A provisioning change is on disk before it is acknowledged, then applied to the planes.
    func testDeviceChangesAreStoredThenApplied() throws {
        let added = try XCTUnwrap(result("device.add", ["id": "cam-1", "groups": ["home"]]))
        XCTAssertEqual(added["device"]?["id"]?.stringValue, "cam-1")
        XCTAssertEqual(gateway.calls, ["apply"])
        let file = try XCTUnwrap(FileManager.default.contents(atPath: directory.path + "/" + ProvisioningStore.fileName))
        XCTAssertEqual(try JSONParser.parse(Array(file))["devices"]?.arrayValue?.first?["id"]?.stringValue, "cam-1", "written before the reply")
        XCTAssertEqual(errorCode("device.add", ["id": "cam-1"]), .exists)
        XCTAssertEqual(errorCode("device.add", ["id": "bad id"]), .badRequest)
        XCTAssertEqual(errorCode("device.add", ["id": "cam-2", "role": "robot"]), .badRequest)
        XCTAssertEqual(result("device.list")?["devices"]?.arrayValue?.count, 1)
        XCTAssertEqual(result("device.remove", ["id": "cam-1"]), ["removed": "cam-1"])
        XCTAssertEqual(errorCode("device.remove", ["id": "cam-1"]), .notFound)
        XCTAssertEqual(gateway.calls, ["apply", "apply"], "only changes that were written are applied")
    }

    func testSecretsAreShownOnceAndTurnUsersNeedAPassword() throws {
        let secret = try XCTUnwrap(result("secret.add"))
        XCTAssertGreaterThanOrEqual(secret["secret"]?.stringValue?.count ?? 0, 16)
        XCTAssertEqual(secret["turnRunning"], true)
        let listed = try XCTUnwrap(result("secret.list")?["secrets"]?.arrayValue)
        XCTAssertEqual(listed.count, 1)
        XCTAssertNil(listed[0]["secret"], "a listing never shows the secret")
        XCTAssertEqual(errorCode("secret.add", ["secret": "short"]), .badRequest)
        XCTAssertEqual(errorCode("turn-user.add", ["name": "bob", "password": ""]), .badRequest)
        XCTAssertEqual(result("turn-user.add", ["name": "bob", "password": "pw"])?["user"]?["realm"]?.stringValue, "test.realm")
    }

    func testStoreCommandsWithoutAStoreAreUnavailable() {
        gateway = RecordingGateway(store: nil)  // the service holds it unowned
        service = ManagementService(gateway: gateway)
        for command in ["device.list", "device.add", "turn-user.list", "secret.list", "group.list"] {
            XCTAssertEqual(errorCode(command, command == "device.add" ? ["id": "cam-1"] : .object([])), .unavailable, command)
        }
    }
}

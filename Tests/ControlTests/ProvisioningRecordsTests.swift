import JSON
import XCTest
@testable import Control

/// Records one by one, as the instances of a cluster replicate them.
final class ProvisioningRecordsTests: XCTestCase {
    func testRecordsRoundTripOneByOne() throws {
        var source = ProvisioningState()
        try source.addDevice(id: "cam-1", role: .device, groups: ["home"], now: 10)
        try source.addTurnUser(name: "bob", realm: "r", password: "pw", now: 10)
        let first = try source.addRestSecret(now: 10)
        let second = try source.addRestSecret(now: 10)
        var replica = ProvisioningState()
        // Applied in the order a broker could deliver them: the older secret first.
        for key in [ProvisioningRecordKey.device("cam-1"), .turnUser("bob"), .restSecret(first.id), .restSecret(second.id)] {
            try replica.setRecord(key, source.records[key])
        }
        XCTAssertEqual(replica.devices, source.devices)
        XCTAssertEqual(replica.turnUsers, source.turnUsers)
        XCTAssertEqual(replica.restSecrets.map(\.id), [second.id, first.id], "the newest secret first")
        XCTAssertEqual(replica.records, source.records)
        // A tombstone removes; an update replaces in place.
        try replica.setRecord(.turnUser("bob"), nil)
        XCTAssertTrue(replica.turnUsers.isEmpty)
        var updated = source
        try updated.updateDevice(id: "cam-1", relayOnly: true, now: 11)
        try replica.setRecord(.device("cam-1"), updated.records[.device("cam-1")])
        XCTAssertEqual(replica.device(id: "cam-1")?.relayOnly, true)
    }

    func testBadRecordsAreRefused() {
        var state = ProvisioningState()
        XCTAssertThrowsError(try state.setRecord(.device("cam-1"), ["id": "cam-2", "role": "device"]))
        XCTAssertThrowsError(try state.setRecord(.device("_gw"), ["id": "_gw", "role": "device", "groups": [], "allow": [],
                                                                   "relayOnly": false, "brokerManaged": false, "createdAt": 1, "updatedAt": 1]))
        XCTAssertTrue(state.devices.isEmpty)
        XCTAssertEqual(ProvisioningRecordKey("device/cam-1"), .device("cam-1"))
        XCTAssertNil(ProvisioningRecordKey("device/a/b"))
        XCTAssertNil(ProvisioningRecordKey("other/x"))
    }
}

import BrokerAdmin
import BrokerHarness
import Glibc
import MQTT
import Reactor
import TestSupport
import XCTest

/// The provisioner against a real mosquitto with the dynamic security plugin, configured by the
/// shipped packaging/mosquitto/dynsec files.
final class DynsecProvisionerTests: DynsecTestCase {
    func testAddedDeviceConnectsAndIsConfinedToItsOwnTopics() throws {
        let (gw, gwInbox, provisioner) = try gateway()
        XCTAssertEqual(provisioner.subscriptions, ["$CONTROL/dynamic-security/v1/response"])
        let pw1 = DynsecProvisioner.generatePassword(), pw2 = DynsecProvisioner.generatePassword()
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "cam-1", password: pw1, completion: $0) }, "add cam-1")
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "cam-2", password: pw2, completion: $0) }, "add cam-2")
        XCTAssertEqual(provisioner.pendingCount, 0)

        // The gateway's retained presence; a device's subscription is in place once it arrives.
        XCTAssertTrue(gw.publish(topic: "rtc/v1/status/_gw", payload: Array(#"{"state":"online"}"#.utf8), retain: true))
        waitUntil(loop, "the retained status was not acknowledged") { gw.pendingAckCount == 0 }
        let (cam1, inbox1) = try connect("cam-1", password: pw1,
                                         subscriptions: ["rtc/v1/down/cam-1", "rtc/v1/down/cam-2", "rtc/v1/status/_gw"])
        let (cam2, inbox2) = try connect("cam-2", password: pw2, subscriptions: ["rtc/v1/down/cam-2", "rtc/v1/status/_gw"])
        waitUntil(loop, "the device reads the gateway's status: \(inbox1.messages)") { inbox1.received("rtc/v1/status/_gw", #"{"state":"online"}"#) }
        waitUntil(loop, timeout: 5) { inbox2.received("rtc/v1/status/_gw", #"{"state":"online"}"#) }

        // A device writes its own up topic (the gateway, on its shared subscription, gets it) but
        // not another device's: the forged message would arrive before the control message.
        cam1.publish(topic: "rtc/v1/up/cam-2", payload: Array("forged-up".utf8))
        cam1.publish(topic: "rtc/v1/up/cam-1", payload: Array("hello".utf8))
        waitUntil(loop, "\(gwInbox.messages)", timeout: 5) { gwInbox.received("rtc/v1/up/cam-1", "hello") }
        XCTAssertFalse(gwInbox.messages.contains { $0.payload == "forged-up" }, "cam-1 wrote cam-2's up topic")

        // A device reads its own down topic, not another's (cam-1 subscribed to both).
        gw.publish(topic: "rtc/v1/down/cam-2", payload: Array("secret".utf8))
        gw.publish(topic: "rtc/v1/down/cam-1", payload: Array("for-cam-1".utf8))
        waitUntil(loop, "\(inbox1.messages)", timeout: 5) { inbox1.received("rtc/v1/down/cam-1", "for-cam-1") }
        waitUntil(loop, "the gateway writes down/#", timeout: 5) { inbox2.received("rtc/v1/down/cam-2", "secret") }
        XCTAssertFalse(inbox1.messages.contains { $0.payload == "secret" }, "cam-1 read cam-2's down topic")

        // Devices cannot write down topics, the gateway's status or another device's status.
        cam1.publish(topic: "rtc/v1/down/cam-2", payload: Array("forged-down".utf8))
        cam1.publish(topic: "rtc/v1/status/_gw", payload: Array("forged-gw".utf8))
        cam1.publish(topic: "rtc/v1/status/cam-2", payload: Array("forged-status".utf8))
        cam1.publish(topic: "rtc/v1/status/cam-1", payload: Array(#"{"state":"online"}"#.utf8), retain: true)
        gw.publish(topic: "rtc/v1/down/cam-2", payload: Array("control".utf8))
        waitUntil(loop, "gateway: \(gwInbox.messages)") {
            inbox2.received("rtc/v1/down/cam-2", "control") && gwInbox.received("rtc/v1/status/cam-1", #"{"state":"online"}"#)
        }
        XCTAssertFalse(inbox2.messages.contains { $0.payload.hasPrefix("forged") }, "\(inbox2.messages)")
        XCTAssertFalse(gwInbox.messages.contains { $0.payload.hasPrefix("forged") }, "\(gwInbox.messages)")
        XCTAssertEqual(inbox1.disconnects, [], "no device was disconnected")
        withExtendedLifetime(cam2) {}
    }

    func testRemovedDeviceIsDisconnectedAndCannotLogInAgain() throws {
        let (_, _, provisioner) = try gateway()
        let password = DynsecProvisioner.generatePassword()
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "viewer-1", password: password, completion: $0) }, "add")
        let (device, inbox) = try connect("viewer-1", password: password)
        XCTAssertSuccess(outcome { provisioner.removeDevice(id: "viewer-1", completion: $0) }, "remove")
        waitUntil(loop, "the removed device is still connected", timeout: 5) { !device.isConnected }
        // It keeps retrying (every ≤ 300 ms) and is refused each time.
        waitUntil(loop, "no refused retries: \(inbox.disconnects)") { inbox.disconnects.filter { $0.contains("refused") }.count >= 3 }
        XCTAssertFalse(device.isConnected)
        XCTAssertEqual(inbox.connects, 1, "the removed device logged in again")
        XCTAssertTrue(inbox.disconnects.contains { $0.contains("refused") }, "\(inbox.disconnects)")
        let (_, late) = try connect("viewer-1", password: password, expectConnect: false)
        waitUntil(loop, "the fresh connection was neither refused nor accepted") { !late.disconnects.isEmpty || late.connects > 0 }
        XCTAssertEqual(late.connects, 0, "a fresh connection with the old credentials was accepted")

        // Removing again is not an error; the id can then be provisioned anew.
        XCTAssertSuccess(outcome { provisioner.removeDevice(id: "viewer-1", completion: $0) }, "second remove")
        let fresh = DynsecProvisioner.generatePassword()
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "viewer-1", password: fresh, completion: $0) }, "re-add")
        _ = try connect("viewer-1", password: fresh)
    }

    func testAddingAnExistingDeviceIsRejectedAndChangesNothing() throws {
        // Here the owner subscribes to the response topic itself.
        let (_, _, provisioner) = try gateway(subscriptions: ["$CONTROL/dynamic-security/v1/response"])
        let password = DynsecProvisioner.generatePassword()
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "cam-1", password: password, completion: $0) }, "add")
        let again = outcome { provisioner.addDevice(id: "cam-1", password: "other", completion: $0) }
        XCTAssertEqual(failure(again), .rejected(command: "createClient", message: "Client already exists"))
        _ = try connect("cam-1", password: password)  // the first password still works

        for bad in ["cam/1", "#", "+", "_gw", "rtcgate", ""] {
            let result = outcome { provisioner.addDevice(id: bad, password: "x", completion: $0) }
            XCTAssertEqual(failure(result), .rejected(command: "addDevice", message: "invalid device id"), bad)
        }
        XCTAssertEqual(failure(outcome { provisioner.setPassword(id: "ghost", password: "x", completion: $0) }),
                       .rejected(command: "setClientPassword", message: "Client not found"))
    }

    func testALeftoverRoleIsReportedAndTheHalfMadeClientUndone() throws {
        let (gw, gwInbox, provisioner) = try gateway()
        // A role of that name made by someone else (a raw dynsec command).
        let raw = #"{"commands":[{"command":"createRole","rolename":"rtcgate-client-ghost","correlationData":"manual"}]}"#
        XCTAssertTrue(gw.resubscribe(DynsecCommands.responseTopic))
        XCTAssertTrue(gw.publish(topic: DynsecCommands.controlTopic, payload: Array(raw.utf8)))
        waitUntil(loop, timeout: 5) { gwInbox.messages.contains { $0.payload.contains(#""manual""#) } }
        let result = outcome { provisioner.addDevice(id: "ghost", password: "pw-ghost", completion: $0) }
        XCTAssertEqual(failure(result), .rejected(command: "createRole", message: "Role already exists"))
        let (_, inbox) = try connect("ghost", password: "pw-ghost", expectConnect: false)
        waitUntil(loop, "the ghost's connection was neither refused nor accepted") { !inbox.disconnects.isEmpty || inbox.connects > 0 }
        XCTAssertEqual(inbox.connects, 0, "the client made alongside the stale role was not deleted")
        // removeDevice clears the stale role; then adding works.
        XCTAssertSuccess(outcome { provisioner.removeDevice(id: "ghost", completion: $0) }, "remove")
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "ghost", password: "pw-ghost", completion: $0) }, "add")
    }

    func testSetPasswordDisconnectsTheDeviceAndOnlyTheNewPasswordWorks() throws {
        let (_, _, provisioner) = try gateway()
        let old = DynsecProvisioner.generatePassword(), new = DynsecProvisioner.generatePassword()
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "cam-9", password: old, completion: $0) }, "add")
        let (device, inbox) = try connect("cam-9", password: old)
        XCTAssertSuccess(outcome { provisioner.setPassword(id: "cam-9", password: new, completion: $0) }, "set")
        waitUntil(loop, "still connected with the old password", timeout: 5) { !device.isConnected }
        waitUntil(loop, "no refused retry with the old password: \(inbox.disconnects)") { inbox.disconnects.contains { $0.contains("refused") } }
        XCTAssertEqual(inbox.connects, 1, "logged in again with the old password")
        _ = try connect("cam-9", password: new)
    }

    func testBrokerGoneGivesUnavailableAndSilentBrokerGivesTimeoutNeverAHang() throws {
        let (gw, _, provisioner) = try gateway(timeoutMs: 400, maxPending: 2)
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "cam-1", password: "pw", completion: $0) }, "add")

        // Broker frozen: the requests are sent but never answered.
        kill(broker.pid, SIGSTOP)
        var first: Result<Void, DynsecError>?, second: Result<Void, DynsecError>?
        let started = MonotonicClock.now()
        provisioner.addDevice(id: "cam-2", password: "pw") { first = $0 }
        provisioner.removeDevice(id: "cam-1") { second = $0 }
        XCTAssertEqual(failure(outcome(timeout: 0.1) { provisioner.setPassword(id: "cam-1", password: "x", completion: $0) }),
                       .busy, "beyond maxPending")
        waitUntil(loop, timeout: 3) { first != nil && second != nil }
        let waited = Double(MonotonicClock.now() - started) / 1e9
        XCTAssertEqual(failure(first), .timeout)
        XCTAssertEqual(failure(second), .timeout)
        XCTAssertGreaterThanOrEqual(waited, 0.38)
        XCTAssertLessThan(waited, 1.5)
        XCTAssertEqual(provisioner.pendingCount, 0)

        // Thawed: the broker then carries out the requests (a timeout means "outcome unknown"),
        // the late answers are ignored (each completion ran once), and new requests work.
        kill(broker.pid, SIGCONT)
        waitUntil(loop, "the thawed broker did not acknowledge") { gw.pendingAckCount == 0 }
        XCTAssertSuccess(outcome { provisioner.setPassword(id: "cam-2", password: "pw2", completion: $0) }, "after thaw")
        XCTAssertEqual(failure(outcome { provisioner.setPassword(id: "cam-1", password: "pw2", completion: $0) }),
                       .rejected(command: "setClientPassword", message: "Client not found"))

        // Broker stopped: refused at once.
        broker.stop()
        waitUntil(loop, timeout: 5) { !gw.isConnected }
        let before = MonotonicClock.now()
        XCTAssertEqual(failure(outcome(timeout: 0.1) { provisioner.addDevice(id: "cam-3", password: "pw", completion: $0) }),
                       .unavailable)
        XCTAssertLessThan(MonotonicClock.now() - before, 500_000_000)
    }

    func testTheShippedConfigurationDeniesWhatNoRoleGrants() throws {
        let (gw, gwInbox, provisioner) = try gateway(subscriptions: ["rtc/v1/up/+", "other/#"])
        XCTAssertSuccess(outcome { provisioner.addDevice(id: "cam-1", password: "pw", completion: $0) }, "add")
        let (cam, camInbox) = try connect("cam-1", password: "pw", subscriptions: ["other/#", "$CONTROL/dynamic-security/#"])
        // Neither the gateway nor a device may use topics outside the signaling tree, and a device
        // cannot send dynsec commands (it would make itself an admin).
        gw.publish(topic: "other/x", payload: Array("gw-other".utf8))
        cam.publish(topic: "other/y", payload: Array("cam-other".utf8))
        let takeover = #"{"commands":[{"command":"createClient","username":"evil","password":"evil","correlationData":"evil"}]}"#
        cam.publish(topic: DynsecCommands.controlTopic, payload: Array(takeover.utf8))
        cam.publish(topic: "rtc/v1/up/cam-1", payload: Array("marker".utf8))
        waitUntil(loop, timeout: 5) { gwInbox.received("rtc/v1/up/cam-1", "marker") }
        runLoop(loop, for: 0.3)  // time for anything the ACL let through to arrive: nothing may
        XCTAssertFalse(gwInbox.messages.contains { $0.topic.hasPrefix("other/") }, "\(gwInbox.messages)")
        XCTAssertFalse(camInbox.messages.contains { $0.topic.hasPrefix("other/") || $0.topic.hasPrefix("$CONTROL") },
                       "\(camInbox.messages)")
        let (_, evil) = try connect("evil", password: "evil", expectConnect: false)
        waitUntil(loop, "evil's connection was neither refused nor accepted") { !evil.disconnects.isEmpty || evil.connects > 0 }
        XCTAssertEqual(evil.connects, 0, "a device created a broker client")
    }
}

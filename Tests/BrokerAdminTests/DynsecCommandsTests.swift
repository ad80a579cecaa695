@testable import BrokerAdmin
import Foundation
import JSON
import XCTest

/// The exact JSON the provisioner sends, and how it reads the plugin's answers.
final class DynsecCommandsTests: XCTestCase {
    private func text(_ commands: [JSONValue]) -> String { String(decoding: DynsecCommands.request(commands), as: UTF8.self) }

    func testCreateRoleAndClientForADevice() {
        let json = text([DynsecCommands.createRole(device: "cam-1", topicPrefix: "rtc/v1", correlationData: "rtcgate-1.0"),
                         DynsecCommands.createClient(device: "cam-1", password: "pw", correlationData: "rtcgate-1.1")])
        XCTAssertEqual(json, #"{"commands":[{"command":"createRole","rolename":"rtcgate-client-cam-1","acls":["#
            + #"{"acltype":"publishClientSend","topic":"rtc/v1/up/cam-1","allow":true},"#
            + #"{"acltype":"publishClientSend","topic":"rtc/v1/status/cam-1","allow":true},"#
            + #"{"acltype":"subscribePattern","topic":"rtc/v1/down/cam-1","allow":true},"#
            + #"{"acltype":"publishClientReceive","topic":"rtc/v1/down/cam-1","allow":true},"#
            + #"{"acltype":"unsubscribePattern","topic":"rtc/v1/down/cam-1","allow":true},"#
            + #"{"acltype":"subscribePattern","topic":"rtc/v1/status/_gw","allow":true},"#
            + #"{"acltype":"publishClientReceive","topic":"rtc/v1/status/_gw","allow":true},"#
            + #"{"acltype":"unsubscribePattern","topic":"rtc/v1/status/_gw","allow":true}],"#
            + #""correlationData":"rtcgate-1.0"},"#
            + #"{"command":"createClient","username":"cam-1","password":"pw","roles":[{"rolename":"rtcgate-client-cam-1"}],"#
            + #""correlationData":"rtcgate-1.1"}]}"#)
    }

    func testTopicPrefixIsUsedVerbatim() {
        let acls = DynsecCommands.deviceACLs(id: "d", topicPrefix: "site/7").compactMap { $0["topic"]?.stringValue }
        XCTAssertEqual(Set(acls), ["site/7/up/d", "site/7/status/d", "site/7/down/d", "site/7/status/_gw"])
    }

    func testDeleteAndPasswordCommands() {
        XCTAssertEqual(text([DynsecCommands.deleteClient(device: "cam-1", correlationData: "rtcgate-2.0"),
                             DynsecCommands.deleteRole(device: "cam-1", correlationData: "rtcgate-2.1")]),
                       #"{"commands":[{"command":"deleteClient","username":"cam-1","correlationData":"rtcgate-2.0"},"#
                        + #"{"command":"deleteRole","rolename":"rtcgate-client-cam-1","correlationData":"rtcgate-2.1"}]}"#)
        XCTAssertEqual(text([DynsecCommands.setClientPassword(device: "v.1", password: "a\"b", correlationData: "rtcgate-3.0")]),
                       #"{"commands":[{"command":"setClientPassword","username":"v.1","password":"a\"b","correlationData":"rtcgate-3.0"}]}"#)
    }

    func testDeviceIdsThatCouldWidenAnACLAreRefused() {
        for good in ["cam-1", "viewer_2", "a", "A.b-c_d", String(repeating: "x", count: 64)] {
            XCTAssertTrue(DynsecCommands.isValidDeviceId(good), good)
        }
        for bad in ["", "#", "+", "cam/1", "cam+", "cam#", "_gw", "_x", "rtcgate", "café", "a b", "$SYS",
                    String(repeating: "x", count: 65)] {
            XCTAssertFalse(DynsecCommands.isValidDeviceId(bad), bad)
        }
    }

    func testParsesResponsesAsMosquittoSendsThem() {
        let payload = #"{"responses":[{"command":"createRole","correlationData":"rtcgate-4.0"},"#
            + #"{"command":"createClient","error":"Client already exists","correlationData":"rtcgate-4.1"},"#
            + #"{"command":"getClient","data":{"client":{"username":"x","roles":[],"groups":[]}}}]}"#
        let parsed = Array(payload.utf8).withUnsafeBytes { DynsecCommands.parseResponses($0) }
        XCTAssertEqual(parsed, [DynsecResponse(command: "createRole", correlationData: "rtcgate-4.0"),
                                DynsecResponse(command: "createClient", error: "Client already exists", correlationData: "rtcgate-4.1"),
                                DynsecResponse(command: "getClient")])
        for junk in ["", "null", "{}", #"{"responses":{}}"#, #"{"responses":[{"error":"x"}]}"#, "{\"responses\":["] {
            XCTAssertNil(Array(junk.utf8).withUnsafeBytes { DynsecCommands.parseResponses($0) }, junk)
        }
    }

    func testGeneratedPasswordsAreLongRandomAndURLSafe() {
        var seen = Set<String>()
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for _ in 0..<1000 {
            let password = DynsecProvisioner.generatePassword()
            XCTAssertEqual(password.count, 32, "24 bytes = 192 bits")
            XCTAssertTrue(password.allSatisfy(allowed.contains), password)
            seen.insert(password)
        }
        XCTAssertEqual(seen.count, 1000)
    }

    /// The role template shipped in packaging/mosquitto/dynsec is what the code sends.
    func testShippedRoleTemplateMatchesTheCode() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("packaging/mosquitto/dynsec/device-role-template.json")
        let template = try String(contentsOf: url, encoding: .utf8)
        let parsed = try JSONParser.parse(Array(template.utf8))
        let fromCode = DynsecCommands.createRole(device: "{id}", topicPrefix: "{p}", correlationData: "")
        XCTAssertEqual(parsed["rolename"], fromCode["rolename"])
        XCTAssertEqual(parsed["acls"], fromCode["acls"])
    }
}

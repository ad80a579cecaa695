import Foundation
import Glibc
import JSON
import TestSupport
import XCTest

@testable import Control

final class ProvisioningStoreTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var stateDir: String { directory.path + "/state" }
    private var file: String { stateDir + "/provisioning.json" }

    override func setUp() { directory = TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    private func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }
    private func entries() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: stateDir)) ?? []).sorted() }

    func testRoundTripRevisionAndPermissions() throws {
        do {
            let store = try ProvisioningStore(directory: stateDir)
            XCTAssertEqual(store.state, ProvisioningState())
            XCTAssertNil(contents(file), "nothing is written before the first update")
            try store.update { state throws(ProvisioningError) in
                try state.addDevice(id: "cam-1", role: .device, groups: ["home", "home", "door"], relayOnly: true, now: 100)
                try state.addDevice(id: "viewer.1", role: .viewer, allow: ["cam-1"], now: 101)
                try state.addTurnUser(name: "alice", realm: "gw.example", password: "pw", now: 102)
            }
            XCTAssertEqual(store.state.revision, 1)
            let secret = try store.update { state throws(ProvisioningError) in try state.addRestSecret("0123456789abcdef-secret", now: 103) }
            XCTAssertEqual(store.state.revision, 2)
            XCTAssertEqual(secret.secret, "0123456789abcdef-secret")
            XCTAssertEqual(store.state.device(id: "cam-1")?.groups, ["door", "home"])
            var info = stat()
            XCTAssertEqual(stat(file, &info), 0)
            XCTAssertEqual(info.st_mode & 0o7777, 0o600)
            XCTAssertEqual(stat(stateDir, &info), 0)
            XCTAssertEqual(info.st_mode & 0o7777, 0o700)
            XCTAssertEqual(entries(), ["lock", "provisioning.json"])
            XCTAssertEqual(String(decoding: contents(stateDir + "/lock") ?? [], as: UTF8.self), "\(getpid())\n")
            let text = String(decoding: contents(file) ?? [], as: UTF8.self)
            XCTAssertTrue(text.hasPrefix(#"{"format":"rtcgate-provisioning","version":1,"revision":2,"#), text)
            XCTAssertFalse(text.contains("\"pw\""), "the TURN password is never stored")
        }
        let reopened = try ProvisioningStore(directory: stateDir)
        XCTAssertEqual(reopened.state.revision, 2)
        XCTAssertEqual(reopened.state.devices.map(\.id), ["cam-1", "viewer.1"])
        XCTAssertEqual(reopened.state.turnUsers.first?.key, md5Hex("alice:gw.example:pw"))
        XCTAssertEqual(reopened.state.restSecrets.first?.secret, "0123456789abcdef-secret")
        XCTAssertEqual(try ProvisioningState(json: JSONParser.parse(reopened.state.fileBytes())), reopened.state)
    }

    func testSecondStoreOnTheDirectoryIsRefused() throws {
        let first = try ProvisioningStore(directory: stateDir)
        XCTAssertThrowsError(try ProvisioningStore(directory: stateDir)) { error in
            XCTAssertEqual(error as? ProvisioningError, .locked(directory: stateDir, pid: getpid()))
            XCTAssertEqual("\(error)", "state directory \(stateDir) is in use by another rtcgate (pid \(getpid()))")
        }
        _ = first
    }

    /// A refused file is reported with its path and problem, and left byte for byte.
    private func assertRefused(_ text: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try FileManagerShim.makeDirectory(stateDir)
        XCTAssertTrue(FileManagerShim.write(text, to: self.file))
        let before = contents(self.file)
        XCTAssertThrowsError(try ProvisioningStore(directory: stateDir), file: file, line: line) { error in
            guard case .refusedFile(let path, let why)? = error as? ProvisioningError else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertEqual(path, self.file, file: file, line: line)
            XCTAssertTrue(why.contains(reason), "'\(why)' does not mention '\(reason)'", file: file, line: line)
            XCTAssertTrue("\(error)".contains(self.file), file: file, line: line)
        }
        XCTAssertEqual(contents(self.file), before, file: file, line: line)
    }

    func testRefusedFiles() throws {
        let head = #"{"format":"rtcgate-provisioning","version":1,"revision":3,"#
        let device = #"{"id":"cam-1","role":"device","groups":[],"allow":[],"relayOnly":false,"brokerManaged":false,"createdAt":1,"updatedAt":1}"#
        let valid = head + #""devices":[\#(device)],"turnUsers":[],"restSecrets":[]}"#
        try FileManagerShim.makeDirectory(stateDir)
        XCTAssertTrue(FileManagerShim.write(valid, to: file))
        XCTAssertEqual(try ProvisioningStore(directory: stateDir).state.revision, 3)

        func refuses(_ text: String, _ reason: String, line: UInt = #line) {
            XCTAssertThrowsError(try ProvisioningStore.load(writing: text, at: file), line: line) { error in
                guard case .refusedFile(_, let why)? = error as? ProvisioningError else { return XCTFail("\(error)", line: line) }
                XCTAssertTrue(why.contains(reason), "'\(why)' does not mention '\(reason)'", line: line)
            }
        }
        refuses("", "not valid JSON")
        refuses(String(valid.dropLast()), "not valid JSON")
        refuses("[]", "not a JSON object")
        refuses(#"{"format":"something-else","version":1}"#, "\"format\" is not \"rtcgate-provisioning\"")
        refuses(#"{"version":1}"#, "missing \"format\"")
        refuses(valid.replacingOccurrences(of: #""version":1"#, with: #""version":2"#), "version 2 was written by a newer rtcgate")
        refuses(valid.replacingOccurrences(of: #""version":1"#, with: #""version":"1""#), "\"version\" must be")
        refuses(valid.replacingOccurrences(of: #""revision":3"#, with: #""revision":-3"#), "\"revision\" must be")
        refuses(valid.replacingOccurrences(of: #""restSecrets":[]"#, with: #""restSecrets":{}"#), "\"restSecrets\" must be an array")
        refuses(valid.replacingOccurrences(of: #","turnUsers":[]"#, with: ""), "missing \"turnUsers\"")
        refuses(valid.replacingOccurrences(of: #""turnUsers":[]"#, with: #""turnUsers":[],"extra":1"#), "unknown field \"extra\"")
        refuses(valid.replacingOccurrences(of: "cam-1", with: "_gw"), "reserved")
        refuses(valid.replacingOccurrences(of: "cam-1", with: "cam 1"), "invalid device id")
        refuses(valid.replacingOccurrences(of: #""role":"device""#, with: #""role":"admin""#), "\"role\" must be")
        refuses(valid.replacingOccurrences(of: #""relayOnly":false"#, with: #""relayOnly":0"#), "\"relayOnly\" must be true or false")
        refuses(valid.replacingOccurrences(of: #""updatedAt":1"#, with: #""updatedAt":1,"x":2"#), "device \"cam-1\": unknown field \"x\"")
        refuses(valid.replacingOccurrences(of: #""groups":[]"#, with: #""groups":["a","a"]"#), "listed twice")
        refuses(valid.replacingOccurrences(of: "[\(device)]", with: "[\(device),\(device)]"), "appears twice")
        refuses(valid.replacingOccurrences(of: #""turnUsers":[]"#, with: #""turnUsers":[{"name":"a","realm":"r","key":"xyz","createdAt":1}]"#),
                "key must be 32 lowercase hex digits")
        refuses(valid.replacingOccurrences(of: #""restSecrets":[]"#,
                                           with: #""restSecrets":[{"id":"ABCDEF01","secret":"0123456789abcdef","createdAt":1,"retiresAt":null}]"#),
                "8 lowercase hex digits")
        refuses(valid.replacingOccurrences(of: #""restSecrets":[]"#,
                                           with: #""restSecrets":[{"id":"abcdef01","secret":"short","createdAt":1,"retiresAt":null}]"#),
                "16–256 bytes")
        refuses(String(repeating: "[", count: 50) + String(repeating: "]", count: 50), "nesting")

        // Through the store: the file is left byte for byte, and the daemon can report it.
        try assertRefused(valid.replacingOccurrences(of: #""version":1"#, with: #""version":9"#), "newer rtcgate")
        try assertRefused("{garbage", "not valid JSON")
        try assertRefused(valid.replacingOccurrences(of: "cam-1", with: "_x"), "reserved")
    }

    func testMutatorsAndTheirErrors() throws {
        var state = ProvisioningState()
        try state.addDevice(id: "cam-1", role: .device, groups: ["g"], now: 10)
        XCTAssertThrowsError(try state.addDevice(id: "cam-1", role: .viewer, now: 11)) {
            XCTAssertEqual($0 as? ProvisioningError, .exists("device \"cam-1\""))
            XCTAssertEqual(($0 as? ProvisioningError)?.controlFailure.code, .exists)
        }
        for bad in ["", "_gw", "a b", String(repeating: "x", count: 65), "é"] {
            XCTAssertThrowsError(try state.addDevice(id: bad, role: .device, now: 1), bad) {
                guard case .invalid? = $0 as? ProvisioningError else { return XCTFail("\($0)") }
            }
        }
        XCTAssertNoThrow(try state.addDevice(id: String(repeating: "x", count: 64), role: .device, now: 1))
        XCTAssertThrowsError(try state.addDevice(id: "v", role: .viewer, allow: ["_gw"], now: 1))
        XCTAssertThrowsError(try state.addDevice(id: "v", role: .viewer, groups: ["bad group"], now: 1))
        let updated = try state.updateDevice(id: "cam-1", role: .viewer, allow: ["v2", "v1"], relayOnly: true, now: 20)
        XCTAssertEqual(updated, DeviceRecord(id: "cam-1", role: .viewer, groups: ["g"], allow: ["v1", "v2"], relayOnly: true,
                                             createdAt: 10, updatedAt: 20))
        XCTAssertThrowsError(try state.updateDevice(id: "nope", now: 1)) {
            XCTAssertEqual(($0 as? ProvisioningError)?.controlFailure, ControlFailure(.notFound, "device \"nope\" does not exist"))
        }
        XCTAssertEqual(state.groupMembers.map(\.group), ["g"])
        XCTAssertEqual(try state.removeDevice(id: "cam-1").id, "cam-1")
        XCTAssertThrowsError(try state.removeDevice(id: "cam-1"))

        XCTAssertEqual(md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        try state.addTurnUser(name: "bob@x", realm: "r", password: "secret", now: 1)
        XCTAssertEqual(state.turnUsers[0].key, md5Hex("bob@x:r:secret"))
        XCTAssertThrowsError(try state.addTurnUser(name: "bob@x", realm: "r", password: "p", now: 1))
        XCTAssertThrowsError(try state.addTurnUser(name: "a:b", realm: "r", password: "p", now: 1))
        XCTAssertThrowsError(try state.addTurnUser(name: "c", realm: "r", password: "", now: 1))
        XCTAssertEqual(state.turnUsers[0].listing, ["name": "bob@x", "realm": "r", "createdAt": 1])
        try state.removeTurnUser(name: "bob@x")
        XCTAssertThrowsError(try state.removeTurnUser(name: "bob@x"))
    }

    func testRestSecretsRotationAndPruning() throws {
        var state = ProvisioningState()
        let first = try state.addRestSecret(now: 100)
        XCTAssertEqual(first.secret.utf8.count, 64)
        XCTAssertEqual(first.id.utf8.count, 8)
        XCTAssertEqual(first.fingerprint, String(sha256Hex(first.secret).prefix(8)))
        XCTAssertThrowsError(try state.addRestSecret("too short", now: 1))
        XCTAssertThrowsError(try state.addRestSecret(first.secret, now: 1)) { XCTAssertEqual($0 as? ProvisioningError, .exists("this REST secret")) }
        let (new, previous) = try state.rotateRestSecret(now: 200, overlapSeconds: 50)
        XCTAssertEqual(previous?.id, first.id)
        XCTAssertEqual(previous?.retiresAt, 250)
        XCTAssertEqual(state.restSecrets.map(\.id), [new.id, first.id], "newest first")
        XCTAssertNil(state.restSecrets[0].retiresAt)
        XCTAssertEqual(state.activeRestSecrets(now: 249).count, 2)
        XCTAssertEqual(state.activeRestSecrets(now: 250).map(\.id), [new.id])
        XCTAssertEqual(state.pruneRetired(now: 249), [])
        XCTAssertEqual(state.pruneRetired(now: 250).map(\.id), [first.id])
        XCTAssertEqual(state.restSecrets.map(\.id), [new.id])
        XCTAssertEqual(state.restSecrets[0].listing.jsonText,
                       #"{"id":"\#(new.id)","createdAt":200,"retiresAt":null,"fingerprint":"\#(new.fingerprint)"}"#)
        XCTAssertFalse(state.restSecrets[0].listing.jsonText.contains(new.secret))
        XCTAssertThrowsError(try state.removeRestSecret(id: first.id))
        try state.removeRestSecret(id: new.id)
        XCTAssertNil(try state.rotateRestSecret(now: 300, overlapSeconds: 10).previous)
        XCTAssertThrowsError(try state.rotateRestSecret(now: 300, overlapSeconds: -1))
    }

    /// The rename succeeded but the folder's fsync failed: the new file is what a restart reads,
    /// so memory follows it, and the next change builds on it instead of reverting it.
    func testDirectoryFsyncFailureAdoptsTheRenamedFile() throws {
        let store = try ProvisioningStore(directory: stateDir)
        store.failingWrite = (.fsyncDirectory, EIO)
        try store.update { state throws(ProvisioningError) in try state.addDevice(id: "a", role: .device, now: 1) }
        XCTAssertNotNil(store.state.device(id: "a"))
        XCTAssertNotNil(store.lastDirectorySyncError)
        store.failingWrite = nil
        try store.update { state throws(ProvisioningError) in try state.addDevice(id: "b", role: .device, now: 2) }
        let reloaded = try ProvisioningStore.load(file)
        XCTAssertEqual(reloaded.devices.map(\.id), ["a", "b"])
    }

    func testFailedWritesLeaveMemoryAndDiskUnchanged() throws {
        let store = try ProvisioningStore(directory: stateDir)
        try store.update { state throws(ProvisioningError) in try state.addDevice(id: "a", role: .device, now: 1) }
        let before = store.state
        let bytes = contents(file)
        for step in [AtomicFile.Step.create, .write, .fsync, .rename] {
            store.failingWrite = (step, ENOSPC)
            XCTAssertThrowsError(try store.update { state throws(ProvisioningError) in try state.addDevice(id: "b", role: .device, now: 2) }) {
                guard case .io(_, _, ENOSPC)? = $0 as? ProvisioningError else { return XCTFail("\($0)") }
                XCTAssertTrue("\($0)".contains("No space left on device"), "\($0)")
            }
            XCTAssertEqual(store.state, before, "\(step)")
            XCTAssertEqual(contents(file), bytes, "\(step)")
            XCTAssertEqual(entries(), ["lock", "provisioning.json"], "no temporary file left after a failed \(step)")
        }
        store.failingWrite = nil
        // A change that throws, or that leaves an invalid state, changes nothing either.
        XCTAssertThrowsError(try store.update { state throws(ProvisioningError) in
            try state.addDevice(id: "c", role: .device, now: 3)
            try state.addDevice(id: "a", role: .device, now: 3)
        })
        XCTAssertThrowsError(try store.update { state in state.devices.append(DeviceRecord(id: "_bad", role: .device, createdAt: 0)) })
        XCTAssertEqual(store.state, before)
        // The directory removed under the store: the write fails, memory is unchanged.
        try FileManager.default.removeItem(atPath: stateDir)
        XCTAssertThrowsError(try store.update { state throws(ProvisioningError) in try state.addDevice(id: "d", role: .device, now: 4) }) {
            guard case .io(let operation, _, ENOENT)? = $0 as? ProvisioningError else { return XCTFail("\($0)") }
            XCTAssertEqual(operation, "creating")
        }
        XCTAssertEqual(store.state, before)
    }

    func testEveryUpdateLeavesAParsableFileEqualToMemory() throws {
        let store = try ProvisioningStore(directory: stateDir)
        for i in 0..<200 {
            try store.update { state throws(ProvisioningError) in
                switch i % 4 {
                case 0: try state.addDevice(id: "dev-\(i)", role: i % 8 == 0 ? .device : .viewer, groups: ["g\(i % 3)"], now: Int64(i))
                case 1: try state.updateDevice(id: "dev-\(i - 1)", relayOnly: true, now: Int64(i))
                case 2: try state.rotateRestSecret(now: Int64(i), overlapSeconds: 5); state.pruneRetired(now: Int64(i))
                default: try state.addTurnUser(name: "u\(i)", realm: "r", password: "p\(i)", now: Int64(i))
                }
            }
            XCTAssertEqual(try ProvisioningStore.load(file), store.state)
            XCTAssertEqual(store.state.revision, UInt64(i + 1))
        }
        XCTAssertEqual(entries(), ["lock", "provisioning.json"])
    }

    func testLeftoverTemporaryFilesFromACrashAreIgnoredAndRemoved() throws {
        do {
            let store = try ProvisioningStore(directory: stateDir)
            try store.update { state throws(ProvisioningError) in try state.addDevice(id: "kept", role: .device, now: 1) }
        }
        // A crash mid-write leaves a partial temporary file (ours or another pid's).
        XCTAssertTrue(FileManagerShim.write(#"{"format":"rtcgate-provisioning","version":1,"rev"#, to: file + ".tmp-99999"))
        XCTAssertTrue(FileManagerShim.write("partial", to: AtomicFile.temporaryPath(for: file)))
        let store = try ProvisioningStore(directory: stateDir)
        XCTAssertEqual(store.state.devices.map(\.id), ["kept"])
        XCTAssertEqual(entries(), ["lock", "provisioning.json"])
        // And a leftover with our own pid does not block a write.
        XCTAssertTrue(FileManagerShim.write("partial", to: AtomicFile.temporaryPath(for: file)))
        try store.update { state throws(ProvisioningError) in try state.addDevice(id: "next", role: .device, now: 2) }
        XCTAssertEqual(try ProvisioningStore.load(file).devices.map(\.id), ["kept", "next"])
        XCTAssertEqual(entries(), ["lock", "provisioning.json"])
    }
}

private func md5Hex(_ text: String) -> String { ProvisioningCrypto.md5Hex(Array(text.utf8)) }
private func sha256Hex(_ text: String) -> String { ProvisioningCrypto.sha256Hex(Array(text.utf8)) }

extension ProvisioningStore {
    /// Writes `text` to `path` and loads it.
    static func load(writing text: String, at path: String) throws -> ProvisioningState {
        precondition(FileManagerShim.write(text, to: path))
        return try load(path)
    }
}

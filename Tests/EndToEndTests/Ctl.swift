import JSON
import XCTest

/// What one `rtcgate ctl` run came to.
typealias CtlResult = (status: Int32, json: JSONValue?, stderr: String)

/// Runs `rtcgate ctl --socket … --json <arguments>` against `gateway` (as `uid` through setpriv
/// when given, on `socket` instead of the gateway's when given).
func ctl(_ gateway: GatewayProcess, _ arguments: [String], as uid: UInt32? = nil, socket: String? = nil) throws -> CtlResult {
    var command = [TestPaths.rtcgate, "ctl", "--socket", socket ?? gateway.controlSocket, "--json"] + arguments
    var executable = command.removeFirst()
    if let uid {
        command = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", executable] + command
        executable = TestPaths.tool("setpriv") ?? "/usr/bin/setpriv"
    }
    let result = try runTool(executable, command, timeout: 15)
    return (result.status, try? JSONParser.parse(Array(result.stdout.utf8)), result.stderr)
}

/// As `ctl`, failing the test at the caller's line unless the command succeeds; its JSON result.
@discardableResult
func ctlOK(_ gateway: GatewayProcess, _ arguments: [String], socket: String? = nil,
           file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue? {
    let result = try ctl(gateway, arguments, socket: socket)
    XCTAssertEqual(result.status, 0, "ctl \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
    return result.json
}

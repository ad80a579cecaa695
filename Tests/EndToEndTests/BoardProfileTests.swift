import Foundation
import XCTest

/// Every shipped board profile passes `check-config` and fits its memory budget; a profile that
/// does not fit is refused.
final class BoardProfileTests: XCTestCase {
    private let gatewaySettings = ["--mqtt-host", "127.0.0.1", "--ice-host", "192.0.2.1", "--relay-ip", "192.0.2.1", "--turn"]

    func testEveryProfileChecksOutWithinItsBudget() throws {
        let boards = try FileManager.default.contentsOfDirectory(atPath: TestPaths.repoRoot + "/board")
            .filter { FileManager.default.fileExists(atPath: TestPaths.repoRoot + "/board/\($0)/profile.conf") }.sorted()
        XCTAssertEqual(Set(boards).isSuperset(of: ["dev", "rpi4", "a53-256m"]), true, "\(boards)")
        for board in boards {
            let result = try runTool(TestPaths.rtcgate, ["check-config", "--board", board] + gatewaySettings,
                                     currentDirectory: TestPaths.repoRoot, timeout: 10)
            XCTAssertEqual(result.status, 0, "\(board): \(result.stdout)\(result.stderr)")
            XCTAssertTrue(result.stdout.contains("reserved per worker:"), board)
            XCTAssertTrue(result.stdout.contains("bounded on the main thread"), board)
            XCTAssertTrue(result.stdout.contains("peak: "), board)
            XCTAssertTrue(result.stdout.contains("kernel socket buffers per worker"), "\(board): \(result.stdout)")
            XCTAssertTrue(result.stdout.contains("relay sockets ("), "\(board): TURN's relay sockets are counted: \(result.stdout)")
            XCTAssertTrue(result.stdout.contains("memory at most: "), board)
        }
    }

    func testSmallBoardRefusesAConfigurationOverItsBudget() throws {
        let result = try runTool(TestPaths.rtcgate, ["check-config", "--board", "a53-256m", "--pool-slots", "8192"] + gatewaySettings,
                                 currentDirectory: TestPaths.repoRoot, timeout: 10)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        XCTAssertTrue(result.stderr.contains("memory budget of 18 MiB"), result.stderr)
    }

    /// Socket buffers count against the budget: the same board with 1 MiB relay buffers does not fit.
    func testSocketBuffersCountAgainstTheBudget() throws {
        let result = try runTool(TestPaths.rtcgate, ["check-config", "--board", "a53-256m", "--relay-socket-buffer-bytes", "1048576"]
                                    + gatewaySettings, currentDirectory: TestPaths.repoRoot, timeout: 10)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        XCTAssertTrue(result.stderr.contains("socket buffers"), result.stderr)
        XCTAssertTrue(result.stdout.contains("relay sockets (64 × 2 × 1024 KiB"), result.stdout)
    }
}

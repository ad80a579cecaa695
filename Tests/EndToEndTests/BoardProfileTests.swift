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
        }
    }

    func testSmallBoardRefusesAConfigurationOverItsBudget() throws {
        let result = try runTool(TestPaths.rtcgate, ["check-config", "--board", "a53-256m", "--pool-slots", "8192"] + gatewaySettings,
                                 currentDirectory: TestPaths.repoRoot, timeout: 10)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        XCTAssertTrue(result.stderr.contains("memory budget of 12 MiB"), result.stderr)
    }
}

import Foundation
import TestSupport
import XCTest

/// An idle gateway sleeps: with TURN, the control socket and signaling connected to a real
/// mosquitto, and nothing happening, the whole process wakes at most once a second. Counted as
/// voluntary context switches of all its threads (each is one return from a sleeping
/// epoll_wait or other blocking call) over 30 s.
final class IdleWakeupTests: XCTestCase {
    /// voluntary_ctxt_switches of every thread of `pid`, by thread name.
    private func voluntarySwitches(of pid: Int32) -> [String: Int] {
        var result: [String: Int] = [:]
        let taskDirectory = "/proc/\(pid)/task"
        for task in (try? FileManager.default.contentsOfDirectory(atPath: taskDirectory)) ?? [] {
            guard let status = try? String(contentsOfFile: "\(taskDirectory)/\(task)/status", encoding: .utf8) else { continue }
            var name = task, switches = 0
            for line in status.split(separator: "\n") {
                if line.hasPrefix("Name:") { name = line.dropFirst(5).trimmingCharacters(in: .whitespaces) + "/" + task }
                if line.hasPrefix("voluntary_ctxt_switches:") { switches = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
            }
            result[name] = switches
        }
        return result
    }

    func testIdleGatewayWakesAtMostOncePerSecond() throws {
        let rig = try SignalingRig(clients: [:], flags: ["--workers", "2", "--stats-interval", "60"])
        let pid = rig.gateway.pid
        // Let start-up settle: subscriptions acknowledged, retained messages read, first timers run.
        runLoop(rig.loop, for: 2)
        let window = 30.0
        let before = voluntarySwitches(of: pid)
        runLoop(rig.loop, for: window)
        let after = voluntarySwitches(of: pid)
        var perThread: [String: Int] = [:]
        for (name, count) in after { perThread[name] = count - (before[name] ?? 0) }
        let total = perThread.values.reduce(0, +)
        let rate = Double(total) / window
        let breakdown = perThread.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        print("idle wake-ups: \(total) in \(Int(window)) s = \(String(format: "%.2f", rate))/s (\(breakdown))")
        XCTAssertGreaterThan(perThread.count, 2, "main thread and two media workers seen: \(breakdown)")
        XCTAssertLessThanOrEqual(rate, 1.0, "idle wake-ups per second: \(breakdown)\n\(rig.gateway.log.suffix(2000))")
        XCTAssertTrue(rig.gateway.log.contains("signaling connected"), "the broker connection was up throughout")
        _ = rig.gateway.stopCleanly()
    }
}

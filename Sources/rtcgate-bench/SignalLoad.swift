/// Session set-up and the open-loop measured phase of `rtcgate-bench signal`.
extension SignalFleet {
    /// Each viewer whose pair is connected OFFERs (~4 KB SDP) to its device, which ANSWERs
    /// (~3 KB); a pair is open when the viewer has the ANSWER. At most 100 offers wait at once; an
    /// OFFER refused with peer-offline (rtcgate has not seen the device's presence yet) or
    /// rate-limited is retried after 250 ms, an unanswered one re-sent after 5 s. Bounded by
    /// `timeoutNanos`. Returns the open pairs.
    func openSessions(timeoutNanos: UInt64) -> [Int] {
        let deadline = now() + timeoutNanos
        let candidates = (0..<config.pairs).filter { device($0).isConnected && viewer($0).isConnected }
        for pair in 0..<config.pairs where !(device(pair).isConnected && viewer(pair).isConnected) {
            pairStates[pair] = .failed("not connected")
        }
        var offers: [Int: [UInt8]] = [:]
        func offer(_ pair: Int) -> [UInt8] {
            if let bytes = offers[pair] { return bytes }
            let v = viewer(pair)
            let bytes = SignalWire.offer(sid: v.sid, to: v.peerId, mid: "o-\(pair)",
                                         sdp: SignalWire.sdp(answer: false, session: pair, targetBytes: 4_000))
            offers[pair] = bytes
            return bytes
        }
        spin(until: deadline) {
            let t = now()
            var waiting = 0, settled = 0
            for pair in candidates {
                switch pairStates[pair] {
                case .open, .failed: settled += 1
                case .offered(let at):
                    if t - at > 5_000_000_000 {
                        setupErrors["OFFER unanswered for 5 s, re-sent", default: 0] += 1
                        pairStates[pair] = .idle(nextOfferAt: t)
                    } else {
                        waiting += 1
                    }
                case .idle: break
                }
            }
            for pair in candidates where waiting < 100 {
                guard case .idle(let at) = pairStates[pair], at <= t else { continue }
                if viewer(pair).publish(offer(pair)) {
                    pairStates[pair] = .offered(at: t)
                    offersSent += 1
                    waiting += 1
                }
            }
            return settled == candidates.count
        }
        var open: [Int] = []
        for pair in 0..<config.pairs {
            switch pairStates[pair] {
            case .open: open.append(pair)
            case .idle, .offered:
                pairStates[pair] = .failed("no ANSWER in time")
                setupErrors["session not open by the set-up deadline", default: 0] += 1
            case .failed: break
            }
        }
        return open
    }

    /// The measured phase: `config.rate` messages/s (scaled down if some pairs are missing, so
    /// each client's rate stays rate/clients) on a fixed schedule — message k at start + k/rate,
    /// pair k mod P, directions alternating per round — for warm-up + duration, then up to
    /// `drainNanos` for the stragglers. The schedule never waits for deliveries (open loop).
    func runPhase(_ mode: SignalMode, pairs active: [Int]) -> PhaseStats {
        let pairCount = UInt64(active.count)
        let rate = config.rate * Double(active.count) / Double(config.pairs)
        let interval = 1e9 / rate
        let start = now() + 20_000_000
        let measureStart = start + config.warmupNanos
        let measureEnd = measureStart + config.durationNanos
        let stats = PhaseStats(mode: mode, measureStart: measureStart, measureEnd: measureEnd)
        stats.offeredRate = rate
        stats.pairs = active.count
        phase = stats
        defer { phase = nil }
        guard pairCount > 0 else { return stats }
        let timer: ScheduleTimer
        do { timer = try ScheduleTimer(loop: loop) } catch {
            setupErrors["\(error)", default: 0] += 1
            return stats
        }
        defer { timer.close(loop: loop) }

        var k: UInt64 = 0
        var measuring = false
        var cpuStart = 0.0, wallStart: UInt64 = 0
        func sample() -> (ServerSample?, ServerSample?) {
            (config.serverPid.flatMap { ServerSample.read(pid: $0) }, config.brokerPid.flatMap { ServerSample.read(pid: $0) })
        }
        while true {
            let t = now()
            if !measuring && t >= measureStart {
                measuring = true
                (stats.serverStart, stats.brokerStart) = sample()
                cpuStart = ownCPUSeconds()
                wallStart = now()
            }
            // Done when every message scheduled before the end has gone out.
            if t >= measureEnd && start + UInt64(Double(k) * interval) >= measureEnd { break }
            while true {
                let due = start + UInt64(Double(k) * interval)
                guard due <= now(), due < measureEnd else { break }
                let pair = active[Int(k % pairCount)]
                let sender = (k / pairCount) % 2 == 0 ? device(pair) : viewer(pair)
                let ts = now()
                if sendCandidates(from: sender, mode: mode, ts: ts) {
                    if stats.isMeasured(ts: ts) { stats.sent += 1 } else { stats.sentOutside += 1 }
                } else {
                    stats.sendDrops += 1
                }
                stats.maxLagNanos = max(stats.maxLagNanos, ts - due)
                k += 1
            }
            // Sleep until the next message is due: the timerfd wakes the loop at that very time.
            let next = min(start + UInt64(Double(k) * interval), measureEnd)
            let t2 = now()
            if next > t2 { timer.arm(at: epoch + next) }
            loop.runOnce(maxWaitNanos: next > t2 ? 10_000_000 : 0)
        }
        (stats.serverEnd, stats.brokerEnd) = sample()
        stats.generatorCPUSeconds = ownCPUSeconds() - cpuStart
        stats.sampleSeconds = Double(now() - wallStart) / 1e9
        stats.elapsedSeconds = Double(config.durationNanos) / 1e9
        // Stragglers: whatever has not arrived `drainNanos` after the interval is lost.
        spin(until: measureEnd + config.drainNanos) {
            stats.delivered + stats.deliveredOutside >= stats.sent + stats.sentOutside
        }
        return stats
    }
}

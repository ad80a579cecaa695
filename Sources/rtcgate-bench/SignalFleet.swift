import MQTT
import Reactor

/// Settings of one `rtcgate-bench signal` run.
struct SignalConfig {
    var brokerPort: Int
    var clients: Int
    var clientPassword: String
    var gatewayUser: String
    var gatewayPassword: String?
    var gatewayPort: Int
    var gatewayClientId: String
    /// Messages per second in all, over all pairs.
    var rate: Double
    var durationNanos: UInt64
    var warmupNanos: UInt64
    /// How long after the measured interval a message may still arrive (else it is lost).
    var drainNanos: UInt64
    var prefix: String
    var serverPid: Int32?
    var brokerPid: Int32?

    var pairs: Int { clients / 2 }
}

/// One bench client — device `bench-d-NNNN` or viewer `bench-v-NNNN` — with its MQTT connection.
/// Devices sit at even indices of the fleet, their viewers right after them.
final class SignalPeer: MQTTClientDelegate {
    let id: String
    let peerId: String
    let pair: Int
    let isDevice: Bool
    /// The session id of the pair (chosen by the viewer, the offerer).
    let sid: String
    let upTopic: String
    let downTopic: String
    unowned let fleet: SignalFleet
    private(set) var client: MQTTClient?
    /// The next `seq` this client sends (per sender, never reset, so phases cannot be confused).
    var nextSeq: UInt64 = 0
    /// The `seq` values received from the peer.
    var seen = SeqSet()
    /// The direct connection's probe arrived: this client's subscription is live.
    var probed = false
    var lastDisconnect: String?

    init(pair: Int, isDevice: Bool, fleet: SignalFleet) {
        let number = pair + 1
        let digits = String(repeating: "0", count: max(0, 4 - String(number).count)) + String(number)
        id = "bench-\(isDevice ? "d" : "v")-\(digits)"
        peerId = "bench-\(isDevice ? "v" : "d")-\(digits)"
        self.pair = pair
        self.isDevice = isDevice
        sid = "bench-s-\(digits)"
        upTopic = "\(fleet.config.prefix)/up/\(id)"
        downTopic = "\(fleet.config.prefix)/down/\(id)"
        self.fleet = fleet
    }

    /// Creates and starts the connection: subscribed to its own `down` topic, retained
    /// `{"state":"online"}` on its `status` topic after every connect, Last Will offline.
    func start() throws(MQTTError) {
        let c = fleet.config
        let status = "\(c.prefix)/status/\(id)"
        let offline = MQTTStatusMessage(topic: status, payload: SignalWire.presence(online: false))
        let config = MQTTClientConfig(
            port: c.brokerPort, clientId: id, username: id, password: c.clientPassword, keepAliveSeconds: 60,
            will: offline, onlineMessage: MQTTStatusMessage(topic: status, payload: SignalWire.presence(online: true)),
            offlineMessage: offline, subscriptions: [downTopic], connectTimeoutMs: 10_000)
        let client = try MQTTClient(config: config, loop: fleet.loop)
        client.delegate = self
        self.client = client
        client.start()
    }

    var isConnected: Bool { client?.isConnected == true }

    @discardableResult
    func publish(_ payload: [UInt8]) -> Bool { client?.publish(topic: upTopic, payload: payload) == true }

    func mqttClientDidConnect(_ client: MQTTClient, protocolVersion: Int) {}

    func mqttClientDidDisconnect(_ client: MQTTClient, reason: String) {
        lastDisconnect = reason
        fleet.disconnects += 1
    }

    func mqttClient(_ client: MQTTClient, didReceive topic: String, payload: UnsafeRawBufferPointer,
                    correlationData: [UInt8]?, retained: Bool) {
        fleet.received(by: self, payload: payload)
    }
}

/// All the bench's MQTT connections on one event loop, and what they receive.
final class SignalFleet {
    /// Set-up state of one device/viewer pair's session (gateway mode).
    enum PairState {
        case idle(nextOfferAt: UInt64)
        case offered(at: UInt64)
        case open
        case failed(String)
    }

    let config: SignalConfig
    let loop: EventLoop
    /// Monotonic time all `ts` values count from.
    let epoch: UInt64
    private(set) var peers: [SignalPeer] = []
    /// The gateway user's connection (direct baseline only).
    private(set) var gateway: MQTTClient?
    /// The phase being measured, if any.
    var phase: PhaseStats?
    var pairStates: [PairState] = []
    /// Set-up problems by description (STATUS errors, timeouts).
    var setupErrors: [String: UInt64] = [:]
    var offersSent = 0
    var disconnects = 0

    init(config: SignalConfig) throws {
        self.config = config
        loop = try EventLoop(maxRegistrations: config.clients + 64, timerCapacity: 2 * config.clients + 256,
                             tickNanos: 1_000_000)
        epoch = MonotonicClock.now()
        for pair in 0..<config.pairs {
            peers.append(SignalPeer(pair: pair, isDevice: true, fleet: self))
            peers.append(SignalPeer(pair: pair, isDevice: false, fleet: self))
        }
        pairStates = Array(repeating: .idle(nextOfferAt: 0), count: config.pairs)
    }

    /// Nanoseconds since the run's epoch.
    func now() -> UInt64 { MonotonicClock.now() &- epoch }

    func device(_ pair: Int) -> SignalPeer { peers[2 * pair] }
    func viewer(_ pair: Int) -> SignalPeer { peers[2 * pair + 1] }

    /// Runs the loop until `condition` holds or `deadline` (epoch ns) passes; true if it held.
    @discardableResult
    func spin(until deadline: UInt64, _ condition: () -> Bool) -> Bool {
        while !condition() {
            let t = now()
            if t >= deadline { return false }
            loop.runOnce(maxWaitNanos: min(deadline - t, 10_000_000))
        }
        return true
    }

    /// Starts every client, in batches of 50 so the broker's listen backlog is not flooded, and
    /// waits (bounded) for their CONNACKs. Returns how many are connected.
    func connectAll(timeoutNanos: UInt64) -> Int {
        let deadline = now() + timeoutNanos
        var started = 0
        for peer in peers {
            do { try peer.start() } catch { setupErrors["client \(peer.id): \(error)", default: 0] += 1 }
            started += 1
            if started % 50 == 0 {
                spin(until: min(deadline, now() + 1_000_000_000)) { peers.prefix(started).allSatisfy(\.isConnected) }
            }
        }
        spin(until: deadline) { peers.allSatisfy(\.isConnected) }
        return peers.count(where: \.isConnected)
    }

    /// Connects the gateway user (direct baseline) and sends every connected client a probe;
    /// waits (bounded) until the probes arrive. Returns the clients whose subscription is live.
    func connectGatewayAndProbe(timeoutNanos: UInt64) throws -> Int {
        let deadline = now() + timeoutNanos
        let config = MQTTClientConfig(port: self.config.gatewayPort, clientId: self.config.gatewayClientId,
                                      username: self.config.gatewayUser, password: self.config.gatewayPassword,
                                      keepAliveSeconds: 60, connectTimeoutMs: 10_000, maxPendingPublishes: 100_000)
        let gateway = try MQTTClient(config: config, loop: loop)
        self.gateway = gateway
        gateway.start()
        guard spin(until: deadline, { gateway.isConnected }) else { return 0 }
        let live = peers.filter(\.isConnected)
        let probe = SignalWire.probe(from: "_bench")
        var round: [SignalPeer] = [], next = 0, roundStarted: UInt64 = 0
        spin(until: deadline) {
            // Every 500 ms, probe again whoever has not answered (its SUBSCRIBE may have been
            // late); at most 200 probes unacknowledged at once.
            let t = now()
            if round.isEmpty || t - roundStarted >= 500_000_000 {
                round = live.filter { !$0.probed }
                next = 0
                roundStarted = t
            }
            while next < round.count, gateway.pendingAckCount < 200 {
                gateway.publish(topic: round[next].downTopic, payload: probe, expirySeconds: 0)
                next += 1
            }
            return live.allSatisfy(\.probed)
        }
        return peers.count(where: \.probed)
    }

    /// Publishes one measured message for `sender` (direct: as the gateway, on the peer's `down`).
    func sendCandidates(from sender: SignalPeer, mode: SignalMode, ts: UInt64) -> Bool {
        let seq = sender.nextSeq
        sender.nextSeq += 1
        switch mode {
        case .gateway:
            return sender.publish(SignalWire.candidatesUp(sid: sender.sid, to: sender.peerId, seq: seq, ts: ts))
        case .direct:
            let receiver = sender.isDevice ? viewer(sender.pair) : device(sender.pair)
            return gateway?.publish(topic: receiver.downTopic,
                                    payload: SignalWire.candidatesDown(sid: sender.sid, from: sender.id, seq: seq, ts: ts),
                                    expirySeconds: 60) == true
        }
    }

    /// Ends the open sessions (END hangup), then disconnects everyone cleanly (offline status).
    func finish(endSessions: Bool) {
        if endSessions {
            for pair in pairStates.indices {
                if case .open = pairStates[pair] {
                    viewer(pair).publish(SignalWire.end(sid: viewer(pair).sid, to: viewer(pair).peerId))
                }
            }
            spin(until: now() + 300_000_000) { false }
        }
        for peer in peers { peer.client?.stop(flushMillis: 100) }
        gateway?.stop(flushMillis: 100)
    }

    // MARK: Receiving

    /// Everything any client receives comes here (on the loop's thread).
    func received(by peer: SignalPeer, payload: UnsafeRawBufferPointer) {
        let fields = JSONFields(bytes: payload)
        if fields.has("type", "CANDIDATES") {
            receivedCandidates(by: peer, fields: fields)
        } else if fields.has("type", "STATUS") {
            receivedStatus(by: peer, fields: fields)
        } else if fields.has("type", "OFFER") {
            // The device answers every OFFER of its session (a repeated one is a renegotiation).
            guard peer.isDevice, fields.has("from", peer.peerId), fields.has("sid", peer.sid) else {
                return noteUnexpected(fields)
            }
            let sdp = SignalWire.sdp(answer: true, session: peer.pair, targetBytes: 3_000)
            peer.publish(SignalWire.answer(sid: peer.sid, to: peer.peerId, mid: "a-\(peer.pair)", sdp: sdp))
        } else if fields.has("type", "ANSWER") {
            guard !peer.isDevice, fields.has("from", peer.peerId), fields.has("sid", peer.sid) else {
                return noteUnexpected(fields)
            }
            if case .failed = pairStates[peer.pair] { return }
            pairStates[peer.pair] = .open
        } else if fields.has("type", "BENCH_PROBE") {
            peer.probed = true
        } else if fields.has("type", "END"), fields.has("from", peer.peerId) {
            return  // the peer hanging up at the end of the run
        } else {
            noteUnexpected(fields)
        }
    }

    private func receivedCandidates(by peer: SignalPeer, fields: JSONFields) {
        guard let phase else { return }
        let arrival = now()
        guard let ts = fields.number("ts"), let seq = fields.number("seq"), fields.has("from", peer.peerId) else {
            phase.unexpected += 1
            return
        }
        guard peer.seen.insert(seq) else {
            phase.duplicates += 1
            return
        }
        if phase.isMeasured(ts: ts) {
            phase.delivered += 1
            phase.histogram.record(nanos: arrival > ts ? arrival - ts : 0)
        } else {
            phase.deliveredOutside += 1
        }
    }

    private func receivedStatus(by peer: SignalPeer, fields: JSONFields) {
        let code = fields.number("code") ?? 0
        guard code != 200 else { return }
        let error = fields.string("error") ?? "code \(code)"
        if let phase {
            phase.noteStatus(error: error)
            return
        }
        // Set-up: a viewer's OFFER refused because rtcgate has not seen the device online yet is
        // retried; anything else fails the pair.
        if !peer.isDevice, case .offered = pairStates[peer.pair] {
            if error == "peer-offline" || error == "rate-limited" {
                pairStates[peer.pair] = .idle(nextOfferAt: now() + 250_000_000)
                setupErrors["OFFER retried after STATUS \(error)", default: 0] += 1
                return
            }
            pairStates[peer.pair] = .failed(error)
        }
        setupErrors["STATUS \(error) (\(peer.isDevice ? "device" : "viewer"))", default: 0] += 1
    }

    private func noteUnexpected(_ fields: JSONFields) {
        let type = fields.string("type") ?? "(no type)"
        if let phase {
            phase.otherMessages[type, default: 0] += 1
        } else {
            setupErrors["unexpected \(type)", default: 0] += 1
        }
    }
}

import Glibc
import Reactor
import STUN
import TURN

/// The packet paths: datagrams on the STUN/TURN listening sockets, messages on TCP streams,
/// datagrams on relay sockets. Every path works in pool slots and sends with one system call
/// per batch where it can; nothing allocates.
extension MediaWorker {
    /// Moves batches until the socket is empty, bounded so TCP and timers still get their turn.
    func drain(_ socketIndex: Int) {
        let socket = udpSockets[socketIndex]
        let server = udpServerAddresses[socketIndex]
        for _ in 0..<64 {
            let received: Int
            do throws(SystemError) {
                received = try socket.receive(into: receiveBatch, count: receiveBatch.capacity)
            } catch {
                return
            }
            if received == 0 { return }
            counters.udpKernelDrops &+= socket.takeNewKernelDrops()
            counters.udpReceiveCalls &+= 1
            counters.udpDatagramsIn &+= UInt64(received)
            let now = MonotonicClock.now()
            var replies = 0
            for i in 0..<received {
                if receiveBatch.wasTruncated(at: i) {
                    counters.udpTruncated &+= 1
                    continue
                }
                let sourceStorage = receiveBatch.address(at: i)
                guard let source = TransportAddress(UnsafePointer(sourceStorage)) else {
                    counters.udpUnknownFamily &+= 1
                    continue
                }
                let out = pool.payload(of: sendSlots[replies])
                let tuple = FiveTuple(client: source, server: server, transport: .udp)
                if let length = handleClientMessage(receiveBatch.received(at: i), from: tuple, now: now, into: out, connection: nil) {
                    sendBatch.setBuffer(replies, start: out.baseAddress!, length: length)
                    sendBatch.setAddress(replies, storage: sourceStorage, length: receiveBatch.addressLength(at: i))
                    replies += 1
                }
            }
            flushToPeers()
            if replies > 0 {
                let result = socket.send(sendBatch, count: replies)
                counters.udpDatagramsOut &+= UInt64(result.sent)
                counters.udpSendFailures &+= UInt64(result.failed)
            }
            if received < receiveBatch.capacity { return }
        }
    }

    /// One message from a client (a datagram or a stream frame): ChannelData and Send
    /// indications are relayed, TURN requests go to the TURN core, everything else to the STUN
    /// Binding responder. Returns the length of a reply written into `out`, if any.
    func handleClientMessage(_ bytes: UnsafeRawBufferPointer, from tuple: FiveTuple, now: UInt64,
                             into out: UnsafeMutableRawBufferPointer, connection: StreamConnection?) -> Int? {
        if let turn, bytes.count >= 4 {
            if bytes[0] >> 6 == 1 {
                if case .toPeer(_, let relayed, let peer, let data) = turn.core.relayChannelData(bytes, from: tuple, now: now) {
                    sendToPeer(turn, relayed, peer, data)
                }
                return nil
            }
            if let header = try? StunHeader.peek(bytes), header.type.method != .binding, header.messageSize == bytes.count {
                if let message = try? StunMessageView(bytes) {
                    switch header.type.messageClass {
                    case .request:
                        let reply = turn.handleRequest(message, from: tuple, now: now, into: out, connection: connection)
                        armExpiryIfNeeded(now: now)
                        guard case .reply(let length) = reply else { return nil }
                        return length
                    case .indication where header.type.method == .send:
                        if case .toPeer(_, let relayed, let peer, let data) = turn.core.relaySendIndication(message, from: tuple, now: now) {
                            sendToPeer(turn, relayed, peer, data)
                        }
                        return nil
                    default:
                        break  // responses and other indications: the responder counts the drop
                    }
                } else if header.type.messageClass == .request {
                    guard case .reply(let length) = turn.core.rejectMalformed(header, from: tuple.client, now: now, into: out) else { return nil }
                    return length
                }
            }
        }
        guard case .reply(let length) = responder.handle(bytes, from: tuple.client, now: now, into: out) else { return nil }
        return length
    }

    /// Queues relayed data for its peer; consecutive datagrams through the same relayed address
    /// go out in one sendmmsg. The data stays where it was received until `flushToPeers`.
    private func sendToPeer(_ turn: TurnRuntime, _ relayed: TransportAddress, _ peer: TransportAddress, _ data: UnsafeRawBufferPointer) {
        guard let index = turn.relays.index(of: relayed) else { return }
        if turn.peerCount > 0 && (turn.peerRelay != index || turn.peerCount == turn.peerBatch.capacity) { flushToPeers() }
        turn.peerRelay = index
        turn.peerBatch.setBuffer(turn.peerCount, start: UnsafeMutableRawPointer(mutating: data.baseAddress!), length: data.count)
        turn.peerBatch.setAddress(turn.peerCount, SocketAddress(peer))
        turn.peerCount += 1
    }

    /// Sends the queued datagrams to their peers.
    func flushToPeers() {
        guard let turn, turn.peerCount > 0 else { return }
        defer { turn.peerCount = 0 }
        guard let relay = turn.relays[turn.peerRelay] else { return }
        let result = relay.socket.send(turn.peerBatch, count: turn.peerCount)
        turn.relaySendFailures &+= UInt64(result.failed)
    }

    /// Datagrams from peers on relay socket `index`: wrapped in place as ChannelData or Data
    /// indications and sent to the allocation's client in one batch.
    func drainRelay(_ index: Int) {
        guard let turn, let relay = turn.relays[index] else { return }
        for _ in 0..<64 {
            let received: Int
            do throws(SystemError) {
                received = try relay.socket.receive(into: turn.relayBatch, count: turn.relayBatch.capacity)
            } catch {
                return
            }
            if received == 0 { return }
            counters.udpKernelDrops &+= relay.socket.takeNewKernelDrops()
            guard let id = relay.allocation else { continue }  // not allocated (yet): drop
            let now = MonotonicClock.now()
            var pending = 0
            var server: TransportAddress?
            for i in 0..<received {
                guard !turn.relayBatch.wasTruncated(at: i),
                      let peer = TransportAddress(UnsafePointer(turn.relayBatch.address(at: i))) else { continue }
                let data = UnsafeMutableRawBufferPointer(rebasing: turn.relaySlots[i][0..<turn.relayBatch.length(at: i)])
                guard case .toClient(_, let fiveTuple, let message) = turn.core.relayPeerData(data, from: peer, to: id, now: now) else { continue }
                if fiveTuple.transport == .tcp {
                    turn.attachments.liveOwner(of: id)?.send(message, loop: loop)
                } else {
                    sendBatch.setBuffer(pending, start: UnsafeMutableRawPointer(mutating: message.baseAddress!), length: message.count)
                    sendBatch.setAddress(pending, SocketAddress(fiveTuple.client))
                    server = fiveTuple.server
                    pending += 1
                }
            }
            if pending > 0, let server, let socketIndex = serverSocketIndex(of: server) {
                let result = udpSockets[socketIndex].send(sendBatch, count: pending)
                counters.udpDatagramsOut &+= UInt64(result.sent)
                counters.udpSendFailures &+= UInt64(result.failed)
            }
            flushStreams()
            if received < turn.relayBatch.capacity { return }
        }
    }
}

extension MediaWorker {
    /// The listening socket whose address is `server` (a loop: generic `firstIndex(of:)`
    /// allocates in debug builds, and there are one or two sockets).
    func serverSocketIndex(of server: TransportAddress) -> Int? {
        var index = 0
        while index < udpServerAddresses.count {
            if udpServerAddresses[index] == server { return index }
            index += 1
        }
        return nil
    }
}

/// Routes a socket's readiness to its worker: listening socket `index`, or relay `index`.
final class SocketReadiness: EventHandler {
    enum Kind { case listening, relay }

    unowned let worker: MediaWorker
    let kind: Kind
    let index: Int

    init(worker: MediaWorker, kind: Kind, index: Int) {
        self.worker = worker
        self.kind = kind
        self.index = index
    }

    func handleEvents(_ events: UInt32, loop: EventLoop) {
        switch kind {
        case .listening: worker.drain(index)
        case .relay: worker.drainRelay(index)
        }
    }
}

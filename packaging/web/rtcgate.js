// rtcgate's signaling protocol (docs/signaling.md, v1) for browsers: MQTT over WebSockets to the
// gateway's broker, presence with a Last Will, requests with `mid`, ICE_CONFIG and its pushed
// refresh, DIRECTORY, and calls (OFFER/ANSWER, trickled CANDIDATES with `done`, END) on
// RTCPeerConnection. No build step: an ES module served by the broker (packaging/web).
import { MqttClient } from "./mqtt.js";

const REPLY_TIMEOUT_MS = 10000; // docs §8
const CANDIDATE_BATCH_MS = 50; // docs §10: batch trickled candidates

/** A refusal from the gateway (`STATUS` with an error), or a local failure. */
export class SignalingError extends Error {
  /** @param {string} name docs §9 error name, or "timeout" / "closed"
   *  @param {string} message @param {number} [code] @param {number} [retryAfterMs] */
  constructor(name, message, code, retryAfterMs) {
    super(message);
    this.name = name;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Human text for each STATUS error a viewer can meet (docs §9). */
export const ERROR_TEXT = {
  "bad-request": "The gateway did not understand a request.",
  forbidden: "You may not call this camera.",
  "not-found": "No such camera or call.",
  "peer-offline": "The camera is offline.",
  "too-large": "A message was too large.",
  "rate-limited": "Too many requests; trying again shortly.",
  "no-path": "No relay path to this camera is good enough right now.",
  resources: "The camera or gateway is busy (too many viewers).",
  timeout: "The gateway did not answer.",
  closed: "The connection to the gateway was lost.",
};

/**
 * One client of the gateway: connection, presence and requests. Events (assign functions):
 * `ondirectory(devices)`, `oniceconfig(config)`, `onstatus(state)` ("connecting" | "online" |
 * "reconnecting" | "offline"), `ongateway(online)`, `ongoaway(graceSec)`, `onerror(SignalingError)`.
 */
export class RtcgateClient {
  /** @param {{url:string, clientId:string, password:string, prefix?:string}} options */
  constructor({ url, clientId, password, prefix = "rtc/v1" }) {
    Object.assign(this, { url, clientId, password, prefix });
    this.topics = { up: `${prefix}/up/${clientId}`, down: `${prefix}/down/${clientId}`,
      status: `${prefix}/status/${clientId}`, gateway: `${prefix}/status/_gw` };
    this.pending = new Map(); // mid -> {resolve, reject, timer}
    this.calls = new Map(); // sid -> Call
    this.nextMid = 1;
    this.iceConfig = null;
    this.devices = []; // the last DIRECTORY
    this.gatewayOnline = false;
    this.stopped = false;
    this.backoffMs = 1000;
    this.ondirectory = this.oniceconfig = this.onstatus = this.ongateway = this.ongoaway = this.onerror = null;
  }

  /** Connects (steps 5-7 of docs §3) and asks for ICE servers and the directory; rejects when
   * the broker refuses the login. Afterwards a lost connection is re-established with back-off. */
  async connect() {
    this.stopped = false;
    this.#emit("onstatus", "connecting");
    await this.#open();
  }

  async #open() {
    const offline = JSON.stringify({ state: "offline" });
    const mqtt = new MqttClient(this.url, { clientId: this.clientId, username: this.clientId, password: this.password,
      keepalive: 30, will: { topic: this.topics.status, payload: offline, qos: 1, retain: true } });
    mqtt.onmessage = (topic, payload, info) => this.#received(topic, payload, info);
    mqtt.onclose = (reason) => this.#lost(reason);
    await mqtt.connect();
    this.mqtt = mqtt;
    await mqtt.subscribe(this.topics.down, 1);
    await mqtt.subscribe(this.topics.gateway, 1);
    await mqtt.publish(this.topics.status, JSON.stringify({ state: "online" }), { qos: 1, retain: true });
    this.backoffMs = 1000;
    this.#emit("onstatus", "online");
    this.iceConfig = (await this.request("ICE_CONFIG_REQUEST", {})).body;
    this.#emit("oniceconfig", this.iceConfig);
    const directory = await this.request("DIRECTORY_REQUEST", {});
    this.devices = directory.body.devices;
    this.#emit("ondirectory", this.devices);
  }

  #lost(reason) {
    this.mqtt = null;
    for (const { reject, timer } of this.pending.values()) { clearTimeout(timer); reject(new SignalingError("closed", reason)); }
    this.pending.clear();
    // docs §3: every session is over for the gateway; close the peer connections.
    for (const call of this.calls.values()) call.close("closed", false);
    if (this.stopped) return;
    this.#emit("onstatus", "reconnecting");
    const delay = this.backoffMs * (0.5 + Math.random() / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, 30000);
    setTimeout(() => { if (!this.stopped) this.#open().catch(() => this.#lost("reconnect failed")); }, delay);
  }

  /** Ends the calls, publishes `offline` and disconnects (docs §3 step 8). */
  async close() {
    this.stopped = true;
    for (const call of [...this.calls.values()]) await call.hangup().catch(() => {});
    const mqtt = this.mqtt;
    this.mqtt = null;
    if (mqtt) {
      await mqtt.publish(this.topics.status, JSON.stringify({ state: "offline" }), { qos: 1, retain: true }).catch(() => {});
      await mqtt.close();
    }
    this.#emit("onstatus", "offline");
  }

  /** Sends a request with a `mid`; resolves with the reply (STATUS 200, ICE_CONFIG or
   * DIRECTORY), rejects with a SignalingError for an error STATUS or after 10 s. */
  request(type, body, { sid, to } = {}) {
    if (!this.mqtt) return Promise.reject(new SignalingError("closed", "not connected"));
    const mid = `w${this.nextMid++}`;
    const message = { v: 1, type, mid, body };
    if (sid) Object.assign(message, { sid, to });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(mid); reject(new SignalingError("timeout", `no reply to ${type}`)); },
        REPLY_TIMEOUT_MS);
      this.pending.set(mid, { resolve, reject, timer });
      this.mqtt.publish(this.topics.up, JSON.stringify(message), { qos: 1 }).catch((e) => {
        clearTimeout(timer);
        this.pending.delete(mid);
        reject(new SignalingError("closed", String(e.message || e)));
      });
    });
  }

  /** Sends a message without waiting for a reply (`seq` is set by the call). */
  send(message) {
    return this.mqtt ? this.mqtt.publish(this.topics.up, JSON.stringify({ v: 1, ...message }), { qos: 1 }) : Promise.resolve();
  }

  /** Starts a call to `deviceId`: the camera's media arrive as `ontrack` events on the call.
   * @returns {Call} */
  call(deviceId) {
    if (!this.iceConfig) throw new SignalingError("closed", "no ICE configuration yet");
    const call = new Call(this, deviceId, crypto.randomUUID());
    this.calls.set(call.sid, call);
    call.start().catch((e) => call.fail(e));
    return call;
  }

  #received(topic, payload) {
    if (topic === this.topics.gateway) {
      let state = "offline";
      try { state = payload ? JSON.parse(payload).state : "offline"; } catch { /* unreadable: offline */ }
      this.gatewayOnline = state === "online";
      this.#emit("ongateway", this.gatewayOnline);
      return;
    }
    let m;
    try { m = JSON.parse(payload); } catch { return; }
    if (!m || typeof m !== "object") return;
    const waiting = m.mid !== undefined ? this.pending.get(String(m.mid)) : undefined;
    if (waiting && (m.type === "STATUS" || m.type === "ICE_CONFIG" || m.type === "DIRECTORY")) {
      this.pending.delete(String(m.mid));
      clearTimeout(waiting.timer);
      if (m.type === "STATUS" && m.code !== 200) {
        waiting.reject(new SignalingError(m.error, m.message || m.error, m.code, m.retryAfterMs));
      } else {
        waiting.resolve(m);
      }
      return;
    }
    switch (m.type) {
      case "ICE_CONFIG": this.iceConfig = m.body; this.#emit("oniceconfig", m.body); break;
      case "DIRECTORY": this.devices = m.body.devices; this.#emit("ondirectory", this.devices); break;
      case "GO_AWAY": this.#emit("ongoaway", m.body?.graceSec); break;
      case "STATUS": // an error without mid (docs §8): about a session message
        if (m.code !== 200) {
          const error = new SignalingError(m.error, m.message || m.error, m.code, m.retryAfterMs);
          const call = m.sid && this.calls.get(m.sid);
          if (call) call.fail(error); else this.#emit("onerror", error);
        }
        break;
      case "PEER_STATUS": {
        for (const call of this.calls.values()) if (call.peer === m.body?.peer) call.peerStatus(m.body.state);
        break;
      }
      default: {
        const call = m.sid && this.calls.get(m.sid);
        if (call && (m.from === call.peer || m.from === "_gw")) call.received(m);
      }
    }
  }

  #emit(name, value) { if (typeof this[name] === "function") this[name](value); }
}

/**
 * One call to a device: an RTCPeerConnection receiving its video (and audio if it sends any).
 * Events: `ontrack(MediaStreamTrack, MediaStream)`, `onstate(state)` ("calling" | "connected" |
 * "ended" | "failed"), `onend(reason, SignalingError?)`.
 */
export class Call {
  constructor(client, peer, sid) {
    Object.assign(this, { client, peer, sid, seq: 1, state: "calling", candidates: [], flushTimer: null });
    this.ontrack = this.onstate = this.onend = null;
    const { iceServers, iceTransportPolicy } = client.iceConfig;
    // A relay-only device (docs §13) gets relay candidates only: use only ours too, so the pair
    // is relay/relay and neither side's address shows.
    const relay = iceTransportPolicy === "relay" || client.devices.some((d) => d.id === peer && d.relayOnly);
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relay ? "relay" : "all" });
    this.pc.addTransceiver("video", { direction: "recvonly" });
    this.pc.addTransceiver("audio", { direction: "recvonly" });
    this.pc.ontrack = (event) => this.ontrack && this.ontrack(event.track, event.streams[0]);
    this.pc.onicecandidate = (event) => this.#trickle(event.candidate);
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === "connected") this.#setState("connected");
      if (this.pc.connectionState === "failed") this.hangup("ice-failed");
    };
  }

  async start() {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.#request("OFFER", { sdp: this.pc.localDescription.sdp });
    this.offered = true;
    this.#flush();
  }

  /** Ends the call (END with `reason`, docs §7.4) and closes the peer connection. */
  async hangup(reason = "hangup") {
    if (this.state === "ended" || this.state === "failed") return;
    const wasLive = this.offered;
    this.close(reason, false);
    if (wasLive) await this.client.send({ type: "END", sid: this.sid, to: this.peer, seq: this.seq++, body: { reason } }).catch(() => {});
  }

  /** The selected candidate pair and live figures from getStats() (for the page): rttMs,
   * localType/remoteType/protocol of the pair, bytesReceived; video framesDecoded, fps, width,
   * height; audio audioSamples, audioLevel (0..1), audioEnergy (absent when no audio comes). */
  async figures() {
    const stats = await this.pc.getStats();
    const out = {};
    let transport;
    stats.forEach((s) => { if (s.type === "transport") transport = s; });
    const pair = transport && stats.get(transport.selectedCandidatePairId);
    if (pair) {
      const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
      Object.assign(out, { rttMs: pair.currentRoundTripTime * 1000, localType: local?.candidateType,
        remoteType: remote?.candidateType, protocol: local?.relayProtocol || local?.protocol, bytesReceived: pair.bytesReceived });
    }
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        Object.assign(out, { framesDecoded: s.framesDecoded, fps: s.framesPerSecond, width: s.frameWidth, height: s.frameHeight,
          videoBytes: s.bytesReceived, timestamp: s.timestamp });
      } else if (s.type === "inbound-rtp" && s.kind === "audio") {
        Object.assign(out, { audioSamples: s.totalSamplesReceived, audioLevel: s.audioLevel, audioEnergy: s.totalAudioEnergy });
      }
    });
    return out;
  }

  /** Messages of this session from the peer or the gateway. */
  received(m) {
    if (m.type === "ANSWER") {
      this.pc.setRemoteDescription({ type: "answer", sdp: m.body.sdp })
        .then(() => Promise.all(this.early?.splice(0).map((c) => this.pc.addIceCandidate(c)) ?? []))
        .catch((e) => this.fail(new SignalingError("bad-request", `unusable ANSWER: ${e.message}`)));
    } else if (m.type === "CANDIDATES") {
      for (const c of m.body.candidates || []) {
        const candidate = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
        if (this.pc.remoteDescription) this.pc.addIceCandidate(candidate).catch(() => {});
        else (this.early ??= []).push(candidate);
      }
    } else if (m.type === "END") {
      this.close(m.body?.reason || "hangup", true);
    } else if (m.type === "OFFER") { // the camera renegotiates: answer it
      this.pc.setRemoteDescription({ type: "offer", sdp: m.body.sdp })
        .then(() => this.pc.createAnswer()).then((a) => this.pc.setLocalDescription(a))
        .then(() => this.client.send({ type: "ANSWER", sid: this.sid, to: this.peer, seq: this.seq++,
          body: { sdp: this.pc.localDescription.sdp } }))
        .catch((e) => this.fail(new SignalingError("bad-request", e.message)));
    }
  }

  peerStatus(state) { if (state === "offline") this.close("peer-offline", true); }

  fail(error) {
    if (error.name === "rate-limited" && error.retryAfterMs !== undefined && this.state === "calling") {
      return; // a trickle batch was refused: the next flush resends what is queued
    }
    this.close(error.name || "failed", true, error);
  }

  close(reason, remote, error) {
    if (this.state === "ended" || this.state === "failed") return;
    this.#setState(error ? "failed" : "ended");
    clearTimeout(this.flushTimer);
    this.pc.close();
    this.client.calls.delete(this.sid);
    if (this.onend) this.onend(reason, error);
  }

  #setState(state) { this.state = state; if (this.onstate) this.onstate(state); }

  #request(type, body) {
    return this.client.request(type, { ...body }, { sid: this.sid, to: this.peer });
  }

  #trickle(candidate) {
    if (candidate) this.candidates.push({ candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex });
    else this.gatheringDone = true;
    if (this.offered && !this.flushTimer) this.flushTimer = setTimeout(() => this.#flush(), CANDIDATE_BATCH_MS);
  }

  #flush() {
    this.flushTimer = null;
    if (this.state !== "calling" && this.state !== "connected") return;
    if (!this.candidates.length && !this.gatheringDone) return;
    const batch = this.candidates.splice(0);
    const body = { candidates: batch };
    if (this.gatheringDone) { body.done = true; this.gatheringDone = false; }
    this.client.send({ type: "CANDIDATES", sid: this.sid, to: this.peer, seq: this.seq++, body }).catch(() => {});
  }
}

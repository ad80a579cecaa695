// A small MQTT 3.1.1 client for browsers: MQTT over the WebSocket API (subprotocol "mqtt",
// binary frames), QoS 0 and 1, clean sessions only, no dependencies and no build step.
// Tested against mosquitto by Tests/Clients/chromium_mqtt_js.py.

const MAX_REMAINING = 268435455; // the largest remaining length 4 varint bytes can carry
const CONNACK_REASONS = ["accepted", "unacceptable protocol version", "identifier rejected",
  "server unavailable", "bad user name or password", "not authorized"];
const PACKET_NAMES = ["reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved"];
const IDLE = 0, CONNECTING = 1, CONNECTED = 2, CLOSED = 3;

const utf8 = new TextEncoder();
const lenient = new TextDecoder(); // payloads: invalid bytes become U+FFFD
const strict = new TextDecoder("utf-8", { fatal: true }); // topic names must be valid UTF-8

/** The remaining-length varint of n (1 to 4 bytes). */
function encodeLength(n) {
  if (n > MAX_REMAINING) throw new RangeError(`packet too large (${n} bytes)`);
  const out = [];
  do { out.push((n % 128) | (n >= 128 ? 0x80 : 0)); n = Math.floor(n / 128); } while (n > 0);
  return out;
}

/** Reads a remaining-length varint at pos: {value, size}, null if incomplete; throws if over 4 bytes. */
function decodeLength(bytes, pos) {
  let value = 0;
  for (let i = 0, mult = 1; i < 4; i++, mult *= 128) {
    if (pos + i >= bytes.length) return null;
    value += (bytes[pos + i] & 0x7f) * mult;
    if (!(bytes[pos + i] & 0x80)) return { value, size: i + 1 };
  }
  throw new Error("malformed remaining length");
}

const u16 = (n) => [n >> 8, n & 0xff];
const concat = (a, b) => { const c = new Uint8Array(a.length + b.length); c.set(a); c.set(b, a.length); return c; };
const report = (err) => (globalThis.reportError || console.error)(err); // to the console, as uncaught

/** A UTF-8 string (or bytes) with its 2-byte length prefix. */
function lengthPrefixed(value) {
  const bytes = toBytes(value);
  if (bytes.length > 0xffff) throw new RangeError("string longer than 65535 bytes");
  return [u16(bytes.length), bytes];
}

/** A payload as bytes: strings are UTF-8 encoded, Uint8Arrays taken as they are. */
function toBytes(payload) {
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === "string") return utf8.encode(payload);
  throw new TypeError(`expected a string or a Uint8Array, not ${typeof payload}`);
}

/** One packet: first byte, remaining length, then the parts in order (bytes, Uint8Arrays, nested arrays). */
function packet(first, ...parts) {
  const flat = parts.flat(Infinity); // numbers (single bytes) and Uint8Arrays
  const length = flat.reduce((sum, p) => sum + (typeof p === "number" ? 1 : p.length), 0);
  const header = [first, ...encodeLength(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let at = header.length;
  for (const p of flat) {
    if (typeof p === "number") out[at++] = p;
    else { out.set(p, at); at += p.length; }
  }
  return out;
}

/**
 * An MQTT 3.1.1 client over a browser WebSocket. One instance is one connection: after it
 * closes, make a new client to reconnect. Assign `onmessage` and `onclose` before connect().
 */
export class MqttClient {
  #url; #opts; #ws = null; #state = IDLE;
  #rx = new Uint8Array(0); // received bytes not yet forming a whole packet
  #pending = new Map(); // packet id -> {kind: "pub" | "sub", resolve, reject}
  #nextId = 1;
  #connect = null; // {resolve, reject, timer} while connecting
  #lastSent = 0; #lastReceived = 0;
  #pingTimer = null; #pongTimer = null;
  #socketGone = Promise.resolve();

  /**
   * @param {string} url ws:// or wss:// URL
   * @param {{clientId:string, username?:string, password?:string, keepalive?:number,
   *   will?:{topic:string, payload:string, qos?:0|1, retain?:boolean}, connectTimeoutMs?:number}} options
   *   keepalive in seconds (default 30, 0 = none); connectTimeoutMs default 10000
   */
  constructor(url, options) {
    this.#url = url;
    this.#opts = { keepalive: 30, connectTimeoutMs: 10000, ...options };
    /** Called for each incoming PUBLISH: (topic: string, payload: string, info: {retain:boolean, qos:number}) */
    this.onmessage = null;
    /** Called once when the connection ends for any reason after connect() resolved: (reason: string) */
    this.onclose = null;
  }

  /** true between CONNACK and close. @returns {boolean} */
  get connected() { return this.#state === CONNECTED; }

  /**
   * Opens the WebSocket and sends CONNECT (clean session).
   * @returns {Promise<void>} resolves on CONNACK 0; rejects with an Error naming the CONNACK
   *   reason (e.g. "bad user name or password"), the socket failure or the timeout.
   */
  connect() {
    if (this.#state !== IDLE) return Promise.reject(new Error("connect() may be called only once"));
    this.#state = CONNECTING;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#end(`connect timeout after ${this.#opts.connectTimeoutMs} ms`),
        this.#opts.connectTimeoutMs);
      this.#connect = { resolve, reject, timer };
      try {
        const { clientId, username, password, will, keepalive } = this.#opts;
        if (password != null && username == null) throw new Error("a password needs a username");
        if (!(keepalive >= 0 && keepalive <= 0xffff)) throw new RangeError("keepalive must be 0..65535 s");
        if (will && ![0, 1].includes(will.qos ?? 0)) throw new RangeError("will qos must be 0 or 1");
        const flags = 0x02 | (will ? 0x04 | ((will.qos || 0) << 3) | (will.retain ? 0x20 : 0) : 0)
          | (password != null ? 0x40 : 0) | (username != null ? 0x80 : 0);
        const connectPacket = packet(0x10, lengthPrefixed("MQTT"), [4, flags], u16(keepalive),
          lengthPrefixed(clientId ?? ""),
          will ? [lengthPrefixed(will.topic), lengthPrefixed(toBytes(will.payload))] : [],
          username != null ? lengthPrefixed(username) : [], password != null ? lengthPrefixed(password) : []);
        const ws = this.#ws = new WebSocket(this.#url, "mqtt");
        ws.binaryType = "arraybuffer";
        this.#socketGone = new Promise((gone) => ws.addEventListener("close", () => gone(), { once: true }));
        ws.onopen = () => this.#guard(() => this.#write(connectPacket));
        ws.onmessage = (e) => this.#guard(() => this.#receive(e.data));
        ws.onclose = (e) => this.#end(`${this.#state === CONNECTED ? "connection lost" : "WebSocket closed before CONNACK"}`
          + ` (code ${e.code}${e.reason ? `: ${e.reason}` : ""})`);
      } catch (err) {
        this.#end(err.message);
      }
    });
  }

  /**
   * Subscribes to one topic filter.
   * @param {string} filter @param {0|1} [qos=0]
   * @returns {Promise<number>} the granted QoS; rejects if the broker refuses (0x80) or the connection closes
   */
  subscribe(filter, qos = 0) {
    return this.#request("sub", (id) => {
      if (qos !== 0 && qos !== 1) throw new RangeError("qos must be 0 or 1");
      if (!filter) throw new Error("empty topic filter");
      return packet(0x82, u16(id), lengthPrefixed(filter), [qos]);
    });
  }

  /**
   * Publishes a message.
   * @param {string} topic @param {string|Uint8Array} payload (a string is sent UTF-8 encoded)
   * @param {{qos?:0|1, retain?:boolean}} [options]
   * @returns {Promise<void>} QoS 0: resolves once handed to the socket; QoS 1: on PUBACK. Rejects
   *   if not connected or if the connection closes first.
   */
  publish(topic, payload, { qos = 0, retain = false } = {}) {
    const build = (id) => {
      if (qos !== 0 && qos !== 1) throw new RangeError("qos must be 0 or 1");
      if (!topic || /[+#\0]/.test(topic)) throw new Error(`invalid topic name ${JSON.stringify(topic)}`);
      return packet(0x30 | (qos << 1) | (retain ? 1 : 0), lengthPrefixed(topic), qos ? u16(id) : [], toBytes(payload));
    };
    return qos === 1 ? this.#request("pub", build) : new Promise((resolve) => {
      if (this.#state !== CONNECTED) throw new Error("not connected");
      this.#write(build(0)); // a throw in the executor rejects the promise
      resolve();
    });
  }

  /**
   * Sends DISCONNECT (so the broker drops the Will) and closes the WebSocket.
   * @returns {Promise<void>} resolves when the socket is closed (at most connectTimeoutMs later)
   */
  async close() {
    if (this.#state === CONNECTED) {
      try { this.#write(Uint8Array.of(0xe0, 0)); } catch { /* the socket is already going */ }
    }
    this.#end("closed by client");
    await new Promise((done) => {
      const timer = setTimeout(done, this.#opts.connectTimeoutMs);
      this.#socketGone.then(() => { clearTimeout(timer); done(); });
    });
  }

  // A request awaiting an acknowledgement: a fresh packet id (1..65535, wrapping, skipping ids in use).
  #request(kind, build) {
    return new Promise((resolve, reject) => {
      if (this.#state !== CONNECTED) throw new Error("not connected");
      if (this.#pending.size >= 0xffff) throw new Error("no free packet identifier");
      while (this.#pending.has(this.#nextId)) this.#nextId = this.#nextId % 0xffff + 1;
      const id = this.#nextId;
      this.#nextId = id % 0xffff + 1;
      const bytes = build(id); // may throw: the promise then rejects
      this.#pending.set(id, { kind, resolve, reject });
      try { this.#write(bytes); } catch (err) { this.#pending.delete(id); throw err; }
    });
  }

  #write(bytes) {
    if (this.#ws?.readyState !== WebSocket.OPEN) throw new Error("the WebSocket is closing");
    this.#ws.send(bytes);
    this.#lastSent = performance.now();
  }

  // Runs fn; any exception (a malformed packet, a failed send) closes the connection with its message.
  #guard(fn) { try { fn(); } catch (err) { this.#end(err.message || String(err)); } }

  // Appends a WebSocket message to the receive buffer and handles every whole packet in it.
  #receive(data) {
    if (!(data instanceof ArrayBuffer)) throw new Error("protocol error: text frame received");
    this.#lastReceived = performance.now();
    const buf = this.#rx.length ? concat(this.#rx, new Uint8Array(data)) : new Uint8Array(data);
    let at = 0;
    while (this.#state !== CLOSED) {
      const len = decodeLength(buf, at + 1);
      if (!len || at + 1 + len.size + len.value > buf.length) break;
      const start = at + 1 + len.size;
      this.#handle(buf[at], buf.subarray(start, start + len.value));
      at = start + len.value;
    }
    if (this.#state !== CLOSED) this.#rx = at === buf.length ? new Uint8Array(0) : buf.slice(at);
  }

  #handle(first, body) {
    const type = first >> 4, flags = first & 0x0f, name = PACKET_NAMES[type];
    const malformed = (why) => new Error(`malformed ${name}: ${why}`);
    const id = () => (body[0] << 8) | body[1];
    if (type !== 3 && flags !== 0) throw malformed("reserved flags set");
    if (this.#state === CONNECTING && type !== 2) throw new Error(`protocol error: ${name} before CONNACK`);
    switch (type) {
      case 2: { // CONNACK
        if (this.#state !== CONNECTING) throw new Error("protocol error: second CONNACK");
        if (body.length !== 2 || body[0] > 1 || body[1] > 5) throw malformed(`bytes ${Array.from(body)}`);
        if (body[1] !== 0) throw new Error(`connection refused: ${CONNACK_REASONS[body[1]]}`);
        this.#state = CONNECTED;
        this.#schedulePing();
        this.#settle(null);
        return;
      }
      case 3: { // PUBLISH
        const qos = (flags >> 1) & 3;
        if (qos > 1) throw malformed(`QoS ${qos} (only 0 and 1 are subscribed)`);
        if (body.length < 2) throw malformed("too short");
        const topicEnd = 2 + ((body[0] << 8) | body[1]), payloadAt = topicEnd + (qos ? 2 : 0);
        if (topicEnd === 2 || payloadAt > body.length) throw malformed("bad topic or length");
        let topic;
        try { topic = strict.decode(body.subarray(2, topicEnd)); } catch { throw malformed("topic is not UTF-8"); }
        const packetId = qos ? (body[topicEnd] << 8) | body[topicEnd + 1] : 0;
        if (qos && packetId === 0) throw malformed("packet identifier 0");
        const payload = lenient.decode(body.subarray(payloadAt));
        try {
          this.onmessage?.(topic, payload, { retain: (flags & 1) === 1, qos });
        } catch (err) {
          report(err); // a bug in the handler must not break the stream
        }
        if (qos && this.#state === CONNECTED) this.#write(packet(0x40, u16(packetId)));
        return;
      }
      case 4: case 9: { // PUBACK, SUBACK
        const kind = type === 4 ? "pub" : "sub";
        if (type === 4 ? body.length !== 2 : body.length !== 3) throw malformed(`length ${body.length}`);
        const waiting = this.#pending.get(id());
        if (!waiting) return; // not ours any more: ignore
        if (waiting.kind !== kind) throw new Error(`protocol error: ${name} for a ${waiting.kind === "pub" ? "PUBLISH" : "SUBSCRIBE"}`);
        if (type === 9 && body[2] > 1 && body[2] !== 0x80) throw malformed(`granted QoS ${body[2]}`);
        this.#pending.delete(id());
        if (type === 4) waiting.resolve();
        else if (body[2] === 0x80) waiting.reject(new Error("subscription refused by the broker"));
        else waiting.resolve(body[2]);
        return;
      }
      case 13: // PINGRESP
        if (body.length !== 0) throw malformed(`length ${body.length}`);
        clearTimeout(this.#pongTimer);
        this.#pongTimer = null;
        this.#schedulePing();
        return;
      default:
        throw new Error(`protocol error: unexpected ${name} from the broker`);
    }
  }

  // Keepalive: PINGREQ once nothing was sent (or received) for 0.75 × keepalive; the PINGRESP
  // must come within keepalive / 2. One timer, re-armed lazily rather than on every packet.
  #schedulePing() {
    const keepaliveMs = this.#opts.keepalive * 1000;
    if (!keepaliveMs || this.#state !== CONNECTED || this.#pongTimer) return;
    clearTimeout(this.#pingTimer);
    const due = Math.min(this.#lastSent, this.#lastReceived) + keepaliveMs * 0.75;
    this.#pingTimer = setTimeout(() => this.#guard(() => {
      this.#pingTimer = null;
      if (performance.now() < Math.min(this.#lastSent, this.#lastReceived) + keepaliveMs * 0.75 - 5) {
        this.#schedulePing(); // traffic since: not idle yet
        return;
      }
      this.#write(Uint8Array.of(0xc0, 0));
      this.#pongTimer = setTimeout(() => this.#end("keepalive timeout"), keepaliveMs / 2);
    }), Math.max(0, due - performance.now()));
  }

  // Settles connect(): resolved (err null) or rejected, once.
  #settle(err) {
    const c = this.#connect;
    this.#connect = null;
    if (c) { clearTimeout(c.timer); err ? c.reject(err) : c.resolve(); }
  }

  // The end of the connection, whatever the cause; runs its effects only once.
  #end(reason) {
    if (this.#state === CLOSED) return;
    const wasConnected = this.#state === CONNECTED;
    this.#state = CLOSED;
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    const ws = this.#ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
    }
    this.#rx = new Uint8Array(0);
    this.#settle(new Error(reason));
    for (const { reject } of this.#pending.values()) reject(new Error(reason));
    this.#pending.clear();
    if (wasConnected) {
      try { this.onclose?.(reason); } catch (err) { report(err); }
    }
  }
}

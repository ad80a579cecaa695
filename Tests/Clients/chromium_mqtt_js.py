#!/usr/bin/env python3
"""packaging/web/mqtt.js in a real headless Chromium against a real mosquitto (and a fake broker).

Starts its own mosquitto on free loopback ports: MQTT/TCP and a WebSockets listener whose
http_dir serves mqtt.js and a test page, users alice and bob (mosquitto_passwd), no anonymous
logins, an ACL giving both readwrite on test/#. Debian's chromium, driven by selenium through
/usr/bin/chromedriver, opens http://127.0.0.1:W/index.html, which imports the module from the
broker (natively if the broker sends a JavaScript Content-Type; mosquitto 2.0.11 sends none, so
the page then fetches it and imports it from a typed blob URL), and the steps below run in the page (execute_async_script, one bounded call each) while
paho-mqtt (TCP, as bob) plays the other side:

  module       mqtt.js imports and adds no globals (how it was imported is in details.moduleLoad)
  connect      alice connects (WebSocket subprotocol "mqtt")
  wrongPassword  a wrong password is refused with a reason naming the password or authorization
  subscribe    test/in at QoS 1 is granted QoS 1
  publishOut   a QoS 1 publish to test/out reaches paho
  roundTrip    a QoS 1 publish to test/in comes back to the page
  inbound50    50 QoS 1 messages from paho, one of 100 KB and one "héllo ✓", arrive intact and in order
  retained     a retained message arrives flagged retain, a live one on the same topic does not
  will         a second client whose WebSocket is closed without DISCONNECT: paho gets its Will
  cleanClose   close() sends DISCONNECT: no Will, onclose("closed by client"), connected false
  keepalive    keepalive 2 s, 5 s idle: still connected (PINGREQs answered), a QoS 1 publish works
  mainStillUp  the first connection survived all of the above
A scripted WebSocket peer (Python websockets) covers what mosquitto never does:
  framing      packets coalesced in one WebSocket message and split across messages (inside a
               varint too), PUBACK of an inbound QoS 1, then a 5-byte remaining length closes
               the client with "malformed remaining length"
  keepaliveTimeout  no PINGRESP: the client closes with "keepalive timeout" about 2.5 s in

Prints one JSON line {"ok": bool, "checks": {name: bool}, "details": {...}, "seconds": n};
exit 0 only if every check passed. Every wait is bounded; mosquitto, the fake broker and
chromium are stopped in `finally`.

Usage: chromium_mqtt_js.py [--mqtt-js packaging/web/mqtt.js] [--keep-log]
  (run with the project's venv: .venv/bin/python Tests/Clients/chromium_mqtt_js.py)
"""

import argparse
import asyncio
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chromium_turns import CHROMEDRIVER, CHROMIUM, descendants  # noqa: E402

import paho.mqtt.client as paho  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
CHECKS = ("module", "connect", "wrongPassword", "subscribe", "publishOut", "roundTrip", "inbound50", "retained",
          "will", "cleanClose", "keepalive", "mainStillUp", "framing", "keepaliveTimeout")

# The test page. Everything it does is a function of window.T that returns a promise; Python
# calls them one by one. A WebSocket subclass records each socket (so the Will step can close
# one without DISCONNECT), the PINGREQs sent and the size of each WebSocket message received.
PAGE = r"""<!doctype html><meta charset="utf-8"><title>mqtt.js test</title><script type="module">
const sockets = [];
class SpySocket extends WebSocket {
  constructor(...args) {
    super(...args);
    Object.assign(this, { pings: 0, messages: 0, maxMessage: 0 });
    sockets.push(this);
    this.addEventListener("message", (e) => { this.messages++; this.maxMessage = Math.max(this.maxMessage, e.data.byteLength); });
  }
  send(data) { if (data.length === 2 && data[0] === 0xc0) this.pings++; super.send(data); }
}
window.WebSocket = SpySocket;

// mosquitto 2.0.11's http_dir sends no Content-Type, and Chromium loads module scripts only
// with a JavaScript MIME type: if the plain import fails, the same bytes, fetched from the
// broker, are imported from a typed blob URL (a fresh module instance on every call).
const blobImport = async () => import(URL.createObjectURL(
  new Blob([await (await fetch("./mqtt.js")).text()], { type: "text/javascript" })));
let mod, moduleLoad = "native";
try {
  mod = await import("./mqtt.js");
} catch {
  mod = await blobImport();
  moduleLoad = "blob (broker sent no Content-Type)";
}
const { MqttClient } = mod;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const wsUrl = `ws://${location.host}/mqtt`;
const inbox = [];  // every message the main client received: {topic, payload, retain, qos}
let main, mainClosed = null;

// A client whose onclose is recorded in .closedWith; options get the test defaults.
function client(options, url = wsUrl) {
  const c = new MqttClient(url, { username: "alice", password: cfg.alice, connectTimeoutMs: 5000, ...options });
  c.closedWith = null;
  c.onclose = (reason) => { c.closedWith = reason; };
  return c;
}
async function until(pred, ms, what) {
  const end = performance.now() + ms;
  while (!pred()) { if (performance.now() > end) throw new Error(`timed out waiting for ${what}`); await sleep(10); }
}
let cfg = {};

window.T = {
  // Evaluates the module once more and lists the globals that evaluation added (none expected).
  module: async () => {
    const before = new Set(Object.getOwnPropertyNames(globalThis));
    const again = await blobImport();
    const newGlobals = Object.getOwnPropertyNames(globalThis).filter((n) => !before.has(n));
    return { exports: Object.keys(mod), again: Object.keys(again), moduleLoad, newGlobals };
  },
  connect: async (c) => {
    cfg = c;
    main = client({ clientId: "alice-main" });
    main.onmessage = (topic, payload, info) => inbox.push({ topic, payload, ...info });
    main.onclose = (reason) => { mainClosed = reason; };
    await main.connect();
    return { connected: main.connected, protocol: sockets.at(-1).protocol };
  },
  wrongPassword: async () => {
    const c = client({ clientId: "alice-wrong", password: "not-the-password" });
    try { await c.connect(); return { refused: false }; }
    catch (e) { return { refused: true, reason: e.message, connected: c.connected }; }
  },
  subscribe: (filter, qos) => main.subscribe(filter, qos),
  publish: async (topic, payload, qos, retain) => { await main.publish(topic, payload, { qos, retain }); return true; },
  // The messages on topic once there are n of them; with the WebSocket message stats.
  inbox: async (topic, n, ms) => {
    await until(() => inbox.filter((m) => m.topic === topic).length >= n, ms, `${n} messages on ${topic}`);
    const { messages, maxMessage } = sockets[0];
    return { list: inbox.filter((m) => m.topic === topic), wsMessages: messages, maxWsMessage: maxMessage };
  },
  will: async () => {
    const c = client({ clientId: "alice-will", will: { topic: "test/will", payload: "gone ✓", qos: 1 } });
    await c.connect();
    sockets.at(-1).close();  // the WebSocket ends, no MQTT DISCONNECT was sent
    await until(() => c.closedWith !== null, 5000, "onclose");
    return { closedWith: c.closedWith, connected: c.connected };
  },
  cleanClose: async () => {
    const c = client({ clientId: "alice-clean", will: { topic: "test/nowill", payload: "should not appear" } });
    await c.connect();
    await c.close();
    return { closedWith: c.closedWith, connected: c.connected, readyState: sockets.at(-1).readyState };
  },
  keepalive: async (idleMs) => {
    const c = client({ clientId: "alice-idle", keepalive: 2 });
    await c.connect();
    const ws = sockets.at(-1);
    await sleep(idleMs);
    const stillConnected = c.connected, closedWhileIdle = c.closedWith;
    if (stillConnected) await c.publish("test/out", "still alive", { qos: 1 });
    await c.close();
    return { stillConnected, closedWhileIdle, pings: ws.pings };
  },
  mainStillUp: async () => ({ connected: main.connected, closedWith: mainClosed }),
  framing: async (url) => {
    const c = client({ clientId: "framing" }, url), got = [];
    c.onmessage = (topic, payload, info) => got.push({ topic, length: payload.length, head: payload.slice(0, 8), qos: info.qos });
    await c.connect();
    await until(() => c.closedWith !== null, 5000, "the malformed packet to close the client");
    return { got, closedWith: c.closedWith };
  },
  keepaliveTimeout: async (url) => {
    const c = client({ clientId: "silent", keepalive: 2 }, url);
    await c.connect();
    const t0 = performance.now();
    await until(() => c.closedWith !== null, 6000, "the keepalive timeout");
    return { closedWith: c.closedWith, afterMs: Math.round(performance.now() - t0) };
  },
};
</script>"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# --- a scripted MQTT-over-WebSocket peer -------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic, payload, qos=0, pid=0):
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (pid.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


class FakeBroker:
    """A WebSocket server (subprotocol "mqtt") that answers CONNECT with CONNACK and then follows
    a script chosen by the client id: "framing" or "silent". Notes land in self.notes[client id]."""

    def __init__(self):
        self.notes, self.port, self.loop = {}, None, asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        if not self.ready.wait(5):
            raise RuntimeError("the fake broker did not start")

    def stop(self):
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopping.set)
            self.thread.join(5)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        from websockets.asyncio.server import serve
        self.stopping = asyncio.Event()
        async with serve(self._session, "127.0.0.1", 0, subprotocols=["mqtt"]) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopping.wait()

    async def _session(self, ws):
        from websockets.exceptions import ConnectionClosed
        connect = await asyncio.wait_for(ws.recv(), 5)  # mqtt.js sends one packet per message
        at = 1
        while connect[at] & 0x80:  # past the remaining length
            at += 1
        at += 11  # its last byte, protocol name "MQTT" (2 + 4), level, flags, keepalive (2)
        client_id = connect[at + 2:at + 2 + int.from_bytes(connect[at:at + 2], "big")].decode()
        notes = self.notes.setdefault(client_id, {"received": []})
        connack = b"\x20\x02\x00\x00"
        try:
            if client_id == "framing":
                p1 = publish_packet("f/1", b"one")
                p2 = publish_packet("f/2", "二つ".encode(), qos=1, pid=7)
                p3 = publish_packet("f/3", b"x" * 300)  # 2-byte remaining length
                p4 = publish_packet("f/4", "é".encode() * 10000)  # 3-byte remaining length
                p5 = publish_packet("f/5", b"end")
                frames = [connack + p1 + p2[:3],  # CONNACK and a PUBLISH coalesced, then a split one
                          p2[3:] + p3[:2],  # the rest, and p3 split inside its varint
                          p3[2:] + p4[:1001]]  # and p4 split inside a 2-byte character
                frames += [p4[i:i + 1000] for i in range(1001, len(p4), 1000)] + [p5]
                for frame in frames:
                    await ws.send(frame)
                notes["puback"] = (await asyncio.wait_for(ws.recv(), 5)).hex()
                await ws.send(b"\x30\xff\xff\xff\xff\x01")  # a remaining length of 5 bytes
            else:  # "silent": CONNACK, then never a PINGRESP
                await ws.send(connack)
            while True:  # until the client closes (bounded)
                notes["received"].append((await asyncio.wait_for(ws.recv(), 8)).hex())
        except ConnectionClosed:
            notes["clientClosed"] = True
        except Exception as err:  # noqa: BLE001 — a note for the JSON, not a crash of the server
            notes["error"] = repr(err)


# --- the run --------------------------------------------------------------------------------

def start_mosquitto(tmp, mqtt_js):
    """mosquitto on two free loopback ports; returns (process, tcp_port, ws_port, log path)."""
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    shutil.copy(mqtt_js, os.path.join(www, "mqtt.js"))
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write(PAGE)
    passwd, acl = os.path.join(tmp, "passwd"), os.path.join(tmp, "acl")
    for i, (user, password) in enumerate(PASSWORDS.items()):
        subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [passwd, user, password],
                       check=True, capture_output=True, timeout=10)
    with open(acl, "w") as f:
        f.write("".join(f"user {u}\ntopic readwrite test/#\n\n" for u in PASSWORDS))
    tcp, ws = free_port(), free_port()
    conf, log = os.path.join(tmp, "mosquitto.conf"), os.path.join(tmp, "mosquitto.log")
    with open(conf, "w") as f:
        f.write(f"""persistence false
allow_anonymous false
password_file {passwd}
acl_file {acl}
log_dest file {log}
log_type all
listener {tcp} 127.0.0.1
listener {ws} 127.0.0.1
protocol websockets
socket_domain ipv4
http_dir {www}
""")
    if os.getuid() == 0:  # mosquitto started as root drops to its own user: give it its files
        mosq = pwd.getpwnam("mosquitto")
        for path in [tmp, www, passwd, acl, conf] + [os.path.join(www, n) for n in os.listdir(www)]:
            os.chown(path, mosq.pw_uid, mosq.pw_gid)
    proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not (wait_port(tcp, 5) and wait_port(ws, 5)):
        raise RuntimeError("mosquitto did not open its ports")
    return proc, tcp, ws, log


class Bob:
    """paho over TCP as bob: the messages it receives on each topic."""

    def __init__(self, port):
        self.got, self.cond = {}, threading.Condition()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bob", protocol=paho.MQTTv311)
        self.c.username_pw_set("bob", PASSWORDS["bob"])
        self.c.on_message = self._message
        connected = threading.Event()
        self.c.on_connect = lambda *a: connected.set()
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not connected.wait(5):
            raise RuntimeError("paho could not connect")
        for topic in ("test/out", "test/will", "test/nowill"):
            self.c.subscribe(topic, 1)
        time.sleep(0.3)  # let the SUBACKs come back

    def _message(self, _c, _u, msg):
        with self.cond:
            self.got.setdefault(msg.topic, []).append(msg.payload.decode())
            self.cond.notify_all()

    def wait(self, topic, n, timeout):
        with self.cond:
            self.cond.wait_for(lambda: len(self.got.get(topic, [])) >= n, timeout)
            return list(self.got.get(topic, []))

    def publish(self, topic, payload, qos=1, retain=False):
        self.c.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def run(args, checks, details):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = tempfile.mkdtemp(prefix="chromium-mqtt-js-")
    mosquitto = driver = bob = service = None
    fake, log = FakeBroker(), os.path.join(tmp, "mosquitto.log")
    if args.keep_log:
        details["keptDir"] = tmp
    try:
        mosquitto, tcp, ws, log = start_mosquitto(tmp, args.mqtt_js)
        bob = Bob(tcp)
        fake.start()

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--user-data-dir=" + os.path.join(tmp, "profile")):
            options.add_argument(flag)
        os.environ["SE_OFFLINE"] = "true"  # Selenium Manager stays off the network
        service = Service(executable_path=CHROMEDRIVER, log_output=os.path.join(tmp, "chromedriver.log"))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_script_timeout(20)  # the bound of every step below
        driver.get(f"http://127.0.0.1:{ws}/index.html")
        end = time.monotonic() + 10
        while not driver.execute_script("return !!window.T") and time.monotonic() < end:
            time.sleep(0.05)

        def step(name, *a):
            """Runs T[name](...a) in the page; its result, or raises with the page's error."""
            r = driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "window.T[arguments[0]](...arguments[1]).then((ok) => done({ok}),"
                " (e) => done({error: String(e && e.message || e)}));", name, list(a))
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']}")
            return r["ok"]

        def check(name, fn):
            """Records check name: fn() returns (passed, detail); an exception fails it."""
            try:
                passed, detail = fn()
            except Exception as err:  # noqa: BLE001
                passed, detail = False, f"{type(err).__name__}: {err}"
            checks[name], details[name] = bool(passed), detail

        if not driver.execute_script("return !!window.T"):
            raise RuntimeError(f"the test page did not load: {driver.get_log('browser')[:3]}")
        module = step("module")
        details["moduleLoad"] = module["moduleLoad"]
        check("module", lambda: (module["exports"] == ["MqttClient"] and module["newGlobals"] == [], module))

        def connect():
            r = step("connect", {"alice": PASSWORDS["alice"]})
            return r["connected"] and r["protocol"] == "mqtt", r
        check("connect", connect)

        def wrong_password():
            r = step("wrongPassword")
            return r["refused"] and re.search(r"password|authori[sz]", r.get("reason", ""), re.I), r
        check("wrongPassword", wrong_password)

        def subscribe():
            granted = step("subscribe", "test/in", 1)
            return granted == 1, {"granted": granted}
        check("subscribe", subscribe)

        def publish_out():
            step("publish", "test/out", "from the browser ✓", 1, False)
            got = bob.wait("test/out", 1, 5)
            return got == ["from the browser ✓"], {"bobGot": got}
        check("publishOut", publish_out)

        def round_trip():
            step("publish", "test/in", "self ✓", 1, False)
            first = step("inbox", "test/in", 1, 5000)["list"][0]
            return first["payload"] == "self ✓" and first["qos"] == 1, first
        check("roundTrip", round_trip)

        sent = [f"m{i}" for i in range(50)]
        sent[10] = "héllo ✓"
        sent[25] = "big:" + "é✓" * 20480  # 102 404 bytes of UTF-8
        for payload in sent:
            bob.publish("test/in", payload)

        def inbound():
            r = step("inbox", "test/in", 51, 10000)
            got = [m["payload"] for m in r["list"][1:]]
            return (got == sent and all(m["qos"] == 1 and not m["retain"] for m in r["list"]),
                    {"received": len(got), "inOrder": got == sent, "bigBytes": len(sent[25].encode()),
                     "wsMessages": r["wsMessages"], "maxWsMessage": r["maxWsMessage"]})
        check("inbound50", inbound)

        def retained():
            bob.publish("test/retained", "kept", retain=True)
            step("subscribe", "test/retained", 1)
            first = step("inbox", "test/retained", 1, 5000)["list"]
            bob.publish("test/retained", "live")
            both = step("inbox", "test/retained", 2, 5000)["list"]
            bob.publish("test/retained", "", retain=True)  # clear it
            return (first[0]["payload"] == "kept" and first[0]["retain"] and both[1]["payload"] == "live"
                    and not both[1]["retain"], [{k: m[k] for k in ("payload", "retain")} for m in both])
        check("retained", retained)

        def will():
            r = step("will")
            got = bob.wait("test/will", 1, 5)
            return got == ["gone ✓"] and r["connected"] is False and r["closedWith"], {**r, "bobGot": got}
        check("will", will)

        def clean_close():
            r = step("cleanClose")
            time.sleep(1.5)  # a Will would be published at once; give it time to show up
            got = bob.got.get("test/nowill", [])
            return (not got and r["closedWith"] == "closed by client" and r["connected"] is False
                    and r["readyState"] == 3, {**r, "bobGot": got})
        check("cleanClose", clean_close)

        def keepalive():
            r = step("keepalive", 5000)
            got = bob.wait("test/out", 2, 5)
            return (r["stillConnected"] and r["pings"] >= 2 and r["closedWhileIdle"] is None
                    and got[-1:] == ["still alive"], r)
        check("keepalive", keepalive)

        def main_still_up():
            r = step("mainStillUp")
            return r["connected"] and r["closedWith"] is None, r
        check("mainStillUp", main_still_up)

        fake_url = f"ws://127.0.0.1:{fake.port}/"

        def framing():
            r = step("framing", fake_url)
            notes = fake.notes.get("framing", {})
            expect = [("f/1", 3, 0), ("f/2", 2, 1), ("f/3", 300, 0), ("f/4", 10000, 0), ("f/5", 3, 0)]
            got = [(m["topic"], m["length"], m["qos"]) for m in r["got"]]
            return (got == expect and r["got"][1]["head"] == "二つ" and notes.get("puback") == "40020007"
                    and "malformed remaining length" in (r["closedWith"] or ""), {**r, "fake": notes})
        check("framing", framing)

        def keepalive_timeout():
            r = step("keepaliveTimeout", fake_url)
            notes = fake.notes.get("silent", {})
            return (r["closedWith"] == "keepalive timeout" and 2000 <= r["afterMs"] <= 4000
                    and "c000" in notes.get("received", []), {**r, "fake": notes})
        check("keepaliveTimeout", keepalive_timeout)
    finally:
        # chromedriver's chromium and its helpers, found before quit() while they still hang below it
        pids = descendants(service.process.pid) if service is not None and service.process else []
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
        for pid in pids:  # whatever chromium left behind, by its pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if bob is not None:
            bob.stop()
        fake.stop()
        if mosquitto is not None:
            mosquitto.terminate()
            try:
                mosquitto.wait(5)
            except subprocess.TimeoutExpired:
                mosquitto.kill()
                mosquitto.wait(5)
        if any(not checks.get(name) for name in CHECKS) and os.path.exists(log):
            with open(log, errors="replace") as f:  # what the broker saw last, for a failed run
                details["mosquittoLogTail"] = f.read().splitlines()[-15:]
        if not args.keep_log:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mqtt-js", default=os.path.join(ROOT, "packaging", "web", "mqtt.js"))
    p.add_argument("--keep-log", action="store_true", help="keep the temp dir (mosquitto.log, chromedriver.log)")
    args = p.parse_args()
    checks, details = {}, {}
    start = time.monotonic()
    try:
        run(args, checks, details)
    except Exception as err:  # mosquitto, paho, selenium or chromium failing to start
        details["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    ok = all(checks.get(name) for name in CHECKS) and "error" not in details
    print(json.dumps({"ok": ok, "checks": checks, "details": details,
                      "seconds": round(time.monotonic() - start, 2)}, ensure_ascii=False), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

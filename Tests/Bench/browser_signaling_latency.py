#!/usr/bin/env python3
"""What rtcgate adds to a browser's signaling latency, measured in a real Chromium.

A private mosquitto runs the shipped packaging/mosquitto/rtcgate.conf and ACL, plus the `ws`
listener browsers use (serving packaging/web) and a second TCP listener for the baseline. One
headless Chromium (selenium, /usr/bin/chromedriver) signs in as viewer-1 with the shipped client
(packaging/web/rtcgate.js over mqtt.js) and times round trips with performance.now(); the other
ends are paho-mqtt echoes in this process, identical in both paths:

  through rtcgate   page -> broker -> rtcgate -> broker -> cam-1 (echo) -> broker -> rtcgate
                    -> broker -> page: CANDIDATES inside a live session (OFFER/ANSWER first),
                    each carrying a probe number that the camera echoes back to the viewer.
  broker alone      page -> broker -> echo -> broker -> page: the page publishes on its own up
                    topic; an echo logged in as the gateway's broker user (rtcgate not running)
                    puts the payload on the page's down topic.

Both paths cross the same echo and the browser's WebSocket twice; the gateway path adds two
broker hops and two passes through rtcgate. So rtcgate's added latency per message, in each
direction, is (gateway RTT - broker-alone RTT) / 2, which is what tests/Bench/signal_bench.sh
calls "added by rtcgate" (one broker hop and rtcgate's processing). Messages are paced (every
--interval ms, under rtcgate's 20/s CANDIDATES bucket); each run measures the broker alone
first, then starts rtcgate and measures through it, then stops it. Medians over --runs runs.

Then (--calls N, 0 to skip) the time from the click to the first decoded frame: rtcgate runs
again, Tests/Clients/camera_device.py (aiortc, test pattern) is cam-2, relay-only, and the shipped
viewer page (index.html) signs in and calls it N times as a person would
(chromium_viewer.drive_page), relay/relay through rtcgate's TURN on 127.0.0.1; median and p95.

Usage: Tests/Bench/browser_signaling_latency.py [--runs 3] [--count 100] [--interval 80] [--calls 7] [--release] [--json]
(run with the project's venv: .venv/bin/python; builds rtcgate if missing). Loopback only; every
wait is bounded; mosquitto, rtcgate and Chromium are stopped on exit.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Clients"))
from chromium_session import IMPORT_CLIENT, headless_chromium  # noqa: E402
from chromium_viewer import drive_page  # noqa: E402

import paho.mqtt.client as paho  # noqa: E402

PREFIX = "rtc/v1"
PASSWORD = "bench-password"
SDP = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
       "c=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
       "a=fingerprint:sha-256 " + ":".join(["00"] * 32) + "\r\na=setup:actpass\r\na=sctp-port:5000\r\n")

DIRECT = r"""
const [cfg, done] = [arguments[0], arguments[arguments.length - 1]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const { MqttClient } = await import(URL.createObjectURL(new Blob([await (await fetch("/mqtt.js")).text()], { type: "text/javascript" })));
  const mqtt = new MqttClient(`ws://${location.host}/mqtt`, { clientId: cfg.id, username: cfg.id, password: cfg.password, keepalive: 30 });
  const waiting = new Map();
  mqtt.onmessage = (topic, payload) => { const m = JSON.parse(payload); const w = waiting.get(m.probe); if (w) w(performance.now()); };
  await mqtt.connect();
  await mqtt.subscribe(`${cfg.prefix}/down/${cfg.id}`, 1);
  const rtts = [];
  for (let n = 0; n < cfg.count; n++) {
    const t0 = performance.now();
    const back = new Promise((resolve) => waiting.set(n, resolve));
    await mqtt.publish(`${cfg.prefix}/up/${cfg.id}`, JSON.stringify({ v: 1, type: "CANDIDATES", probe: n, body: { candidates: [] } }), { qos: 1 });
    const t1 = await Promise.race([back, sleep(2000).then(() => null)]);
    if (t1 !== null) rtts.push(t1 - t0);
    await sleep(Math.max(0, cfg.intervalMs - (performance.now() - t0)));
  }
  await mqtt.close();
  return { rtts };
})().then(done, (e) => done({ error: String(e && e.message || e) }));
"""

GATEWAY = r"""
const [cfg, done] = [arguments[0], arguments[arguments.length - 1]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
""" + IMPORT_CLIENT + r"""
  const client = new rtcgate.RtcgateClient({ url: `ws://${location.host}/mqtt`, clientId: cfg.id, password: cfg.password });
  await client.connect();
  const sid = crypto.randomUUID();
  const waiting = new Map();
  let answered;
  const answer = new Promise((resolve) => { answered = resolve; });
  // The session's messages, as the client routes them to a call (docs §11).
  client.calls.set(sid, { peer: cfg.camera, peerStatus() {}, close() {},
    received(m) { if (m.type === "ANSWER") answered(); const w = waiting.get(m.body?.probe); if (w) w(performance.now()); } });
  let seq = 0;
  await client.request("OFFER", { sdp: cfg.sdp }, { sid, to: cfg.camera });
  await Promise.race([answer, sleep(5000).then(() => { throw new Error("no ANSWER from the camera"); })]);
  const rtts = [];
  for (let n = 0; n < cfg.count; n++) {
    const t0 = performance.now();
    const back = new Promise((resolve) => waiting.set(n, resolve));
    await client.send({ type: "CANDIDATES", sid, to: cfg.camera, seq: ++seq, body: { candidates: [], probe: n } });
    const t1 = await Promise.race([back, sleep(2000).then(() => null)]);
    if (t1 !== null) rtts.push(t1 - t0);
    await sleep(Math.max(0, cfg.intervalMs - (performance.now() - t0)));
  }
  await client.send({ type: "END", sid, to: cfg.camera, seq: ++seq, body: { reason: "hangup" } });
  client.calls.delete(sid);
  await client.close();
  return { rtts };
})().then(done, (e) => done({ error: String(e && e.message || e) }));
"""


def free_port():
    """A port free for TCP and UDP on 127.0.0.1 (rtcgate's STUN/TURN listens on both)."""
    while True:
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
        finally:
            u.close()
            t.close()


def wait_port(port, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Echo:
    """A paho client that answers each message on `listen` with `reply(message)` (None: nothing)."""

    def __init__(self, port, user, client_id, listen, reply, presence=None):
        self.reply = reply
        self.ready = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.username_pw_set(user, PASSWORD if user != "rtcgate" else Echo.gateway_password)
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe(listen, 1),
                                                          presence and c.publish(*presence, qos=1, retain=True))
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.ready.set()
        self.client.on_message = lambda c, u, m: self._answer(m.payload)
        if presence:
            self.client.will_set(presence[0], json.dumps({"state": "offline"}), qos=1, retain=True)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise RuntimeError(f"echo {client_id} did not subscribe")

    def _answer(self, payload):
        try:
            out = self.reply(json.loads(payload))
        except ValueError:
            return
        if out:
            self.client.publish(out[0], json.dumps(out[1]), qos=1)

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def camera_reply(state):
    """cam-1: ANSWER the OFFER, echo each CANDIDATES' probe back to the viewer."""
    def reply(m):
        if m.get("type") == "OFFER":
            state["seq"] = 0
            return f"{PREFIX}/up/cam-1", {"v": 1, "type": "ANSWER", "sid": m["sid"], "to": m["from"], "seq": 0, "body": {"sdp": SDP}}
        if m.get("type") == "CANDIDATES" and "probe" in (m.get("body") or {}):
            state["seq"] += 1
            return f"{PREFIX}/up/cam-1", {"v": 1, "type": "CANDIDATES", "sid": m["sid"], "to": m["from"], "seq": state["seq"],
                                          "body": {"candidates": [], "probe": m["body"]["probe"]}}
        return None
    return reply


def start_gateway(binary, work, broker_port, log_name):
    """rtcgate on 127.0.0.1 with the bench's clients; returns (process, log file) once it has
    connected to the broker (bounded: 15 s)."""
    log = open(os.path.join(work, log_name), "w")
    gateway = subprocess.Popen(
        [binary, "run", "--board", "dev", "--listening-port", str(free_port()), "--mqtt-host", "127.0.0.1",
         "--mqtt-port", str(broker_port), "--mqtt-user", "rtcgate", "--mqtt-password", Echo.gateway_password,
         "--use-auth-secret", "--static-auth-secret", secrets.token_hex(16), "--config", os.path.join(work, "rtcgate.conf"),
         "--control-socket", "", "--state-dir", "", "--stats-interval", "0"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "signaling connected" not in open(log.name).read():
        time.sleep(0.05)
    time.sleep(0.3)  # its subscriptions follow the CONNACK
    return gateway, log


def first_frames(driver, binary, work, broker_port, ws_port, calls, processes):
    """Click-to-first-decoded-frame (ms) of `calls` calls from the viewer page to cam-2."""
    gateway, log = start_gateway(binary, work, broker_port, "rtcgate-calls.log")
    processes.append(gateway)
    camera = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/Clients/camera_device.py"), "--broker",
                               f"127.0.0.1:{broker_port}", "--id", "cam-2", "--password", PASSWORD, "--duration", str(30 + 10 * calls)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    processes.append(camera)
    if "ready" not in camera.stdout.readline():
        raise RuntimeError("the camera did not come online")
    page = argparse.Namespace(base=f"http://127.0.0.1:{ws_port}", id="viewer-1", password=PASSWORD, camera="cam-2", frames=1,
                              timeout=20, hold=0, expect_error=False, screenshot=None, reconnect_marker=None, kill_camera=None)
    times, pairs = [], set()
    for _ in range(calls):
        result = {}
        figures = drive_page(driver, page, result)
        if "firstFrameMs" not in result:
            raise RuntimeError(f"no frame decoded: {result}; rtcgate log:\n" + open(log.name).read()[-2000:])
        times.append(result["firstFrameMs"])
        pairs.add(f"{figures.get('localType')}/{figures.get('remoteType')}")
    camera.send_signal(signal.SIGTERM)
    camera.wait(15)
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(10)
    return times, sorted(pairs)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--count", type=int, default=100, help="round trips per path per run")
    p.add_argument("--interval", type=float, default=80, help="ms between messages (rtcgate allows 20 CANDIDATES/s)")
    p.add_argument("--calls", type=int, default=7, help="calls from the viewer page for click-to-first-frame (0: skip)")
    p.add_argument("--release", action="store_true", help="use .build/release/rtcgate (else .build/debug)")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = p.parse_args()

    config = "release" if args.release else "debug"
    binary = os.path.join(ROOT, ".build", config, "rtcgate")
    if not os.path.exists(binary):
        subprocess.run(["swift", "build", "-c", config, "--product", "rtcgate"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="rtcgate-browser-latency-")
    os.chmod(work, 0o755)  # mosquitto started as root reads its files as user mosquitto
    processes = []
    Echo.gateway_password = secrets.token_hex(12)
    try:
        broker_port, direct_port, ws_port = free_port(), free_port(), free_port()
        shipped = open(os.path.join(ROOT, "packaging/mosquitto/rtcgate.conf")).read().replace("/etc/mosquitto/", work + "/")
        with open(os.path.join(work, "mosquitto.conf"), "w") as f:
            f.write(f"listener {broker_port} 127.0.0.1\n{shipped}\n"
                    f"listener {ws_port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n"
                    f"http_dir {os.path.join(ROOT, 'packaging/web')}\nuse_username_as_clientid true\n"
                    # declared without use_username_as_clientid: the baseline echo keeps its own id
                    f"listener {direct_port} 127.0.0.1\nlog_dest stderr\nlog_type error\nlog_type warning\n")
        shutil.copy(os.path.join(ROOT, "packaging/mosquitto/rtcgate.acl"), os.path.join(work, "rtcgate.acl"))
        passwd = os.path.join(work, "rtcgate.passwd")
        open(passwd, "w").close()
        for user, password in (("rtcgate", Echo.gateway_password), ("viewer-1", PASSWORD), ("cam-1", PASSWORD), ("cam-2", PASSWORD)):
            subprocess.run(["mosquitto_passwd", "-b", passwd, user, password], check=True)
        for name in os.listdir(work):
            os.chmod(os.path.join(work, name), 0o644)
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        broker = subprocess.Popen([mosquitto, "-c", os.path.join(work, "mosquitto.conf")], stderr=open(os.path.join(work, "mosquitto.log"), "w"))
        processes.append(broker)
        if not all(wait_port(port) for port in (broker_port, ws_port, direct_port)):
            raise RuntimeError("mosquitto did not start: " + open(os.path.join(work, "mosquitto.log")).read())
        with open(os.path.join(work, "rtcgate.conf"), "w") as f:
            f.write("signal-client = cam-1 role=device groups=bench\nsignal-client = viewer-1 role=viewer groups=bench\n"
                    "signal-client = cam-2 role=device groups=bench relay-only\n"
                    "allowed-peer-ip = 127.0.0.1\n")
        camera = Echo(broker_port, "cam-1", "cam-1", f"{PREFIX}/down/cam-1", camera_reply({"seq": 0}),
                      presence=(f"{PREFIX}/status/cam-1", json.dumps({"state": "online"})))
        cfg = {"id": "viewer-1", "password": PASSWORD, "camera": "cam-1", "prefix": PREFIX, "count": args.count,
               "intervalMs": args.interval, "sdp": SDP}
        runs = []
        with headless_chromium(script_timeout=args.count * (args.interval / 1000 + 2.5) + 30) as driver:
            driver.get(f"http://127.0.0.1:{ws_port}/README.md")
            for run in range(args.runs):
                echo = Echo(direct_port, "rtcgate", "bench-direct-echo", f"{PREFIX}/up/viewer-1",
                            lambda m: (f"{PREFIX}/down/viewer-1", m))
                direct = driver.execute_async_script(DIRECT, cfg)
                echo.stop()
                gateway, gateway_log = start_gateway(binary, work, broker_port, f"rtcgate-{run}.log")
                processes.append(gateway)
                through = driver.execute_async_script(GATEWAY, cfg)
                gateway.send_signal(signal.SIGTERM)
                gateway.wait(10)
                for name, result in (("broker alone", direct), ("through rtcgate", through)):
                    if not result or "error" in result:
                        raise RuntimeError(f"run {run + 1}, {name}: {result and result.get('error')}; rtcgate log:\n"
                                           + open(gateway_log.name).read()[-2000:])
                d, g = direct["rtts"], through["rtts"]
                row = {"direct_p50_ms": statistics.median(d), "direct_p95_ms": percentile(d, 0.95),
                       "gateway_p50_ms": statistics.median(g), "gateway_p95_ms": percentile(g, 0.95),
                       "lost": (args.count - len(d)) + (args.count - len(g))}
                row["added_p50_ms"] = (row["gateway_p50_ms"] - row["direct_p50_ms"]) / 2
                row["added_p95_ms"] = (row["gateway_p95_ms"] - row["direct_p95_ms"]) / 2
                runs.append(row)
                if not args.json:
                    print(f"run {run + 1}: broker alone RTT p50 {row['direct_p50_ms']:.2f} ms p95 {row['direct_p95_ms']:.2f} | "
                          f"through rtcgate p50 {row['gateway_p50_ms']:.2f} ms p95 {row['gateway_p95_ms']:.2f} | "
                          f"added per message p50 {row['added_p50_ms']:.3f} ms p95 {row['added_p95_ms']:.3f} | lost {row['lost']}",
                          flush=True)
            camera.stop()
            summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            summary.update({"runs": args.runs, "count": args.count, "build": config})
            if args.calls > 0:
                times, pairs = first_frames(driver, binary, work, broker_port, ws_port, args.calls, processes)
                summary.update({"calls": len(times), "first_frame_p50_ms": statistics.median(times),
                                "first_frame_p95_ms": percentile(times, 0.95), "first_frame_ms": times, "pairs": pairs})
        if args.json:
            print(json.dumps(summary))
        else:
            print(f"median of {args.runs} runs ({args.count} round trips each, {config} build): "
                  f"broker alone RTT {summary['direct_p50_ms']:.2f} ms (p95 {summary['direct_p95_ms']:.2f}), "
                  f"through rtcgate {summary['gateway_p50_ms']:.2f} ms (p95 {summary['gateway_p95_ms']:.2f}); "
                  f"rtcgate adds {summary['added_p50_ms'] * 1000:.0f} µs per message (p95 {summary['added_p95_ms'] * 1000:.0f} µs), "
                  f"lost {summary['lost']:.0f}")
            if args.calls > 0:
                print(f"click to first decoded frame, {summary['calls']} calls from the viewer page ({', '.join(summary['pairs'])}): "
                      f"median {summary['first_frame_p50_ms']:.0f} ms, p95 {summary['first_frame_p95_ms']:.0f} ms "
                      f"(each: {summary['first_frame_ms']})")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

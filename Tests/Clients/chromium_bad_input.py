#!/usr/bin/env python3
"""Bad input from a real browser: Chromium, signed in with the gateway's own JavaScript client
(packaging/web/rtcgate.js over the broker's WebSockets listener), sends what a buggy or hostile
page could, and records what comes back. Each case is sent on the client's own connection
(`client.mqtt`), replies are read from its `down` topic. The test compares the answers with
docs/signaling.md §9, the same table every other client gets:

  oversized        66,000 bytes (over rtcgate's 65,536, under the broker's packet limit): 413 too-large, no mid
  brokerLimit      80,000 bytes (over the shipped broker's message_size_limit): the broker drops it,
                   rtcgate never sees it (no reply), the connection stays and the next request works
  notJson          "{not json": 400 bad-request, no mid
  wrongTypes       v "1", type 7, sid {}, body [], body.sdp 42, candidates "x": each 400 bad-request with its mid
  unknownType      "DANCE": 400 bad-request
  gatewayOnly      a client-sent DIRECTORY: 400 bad-request
  forgedFrom       a real OFFER to --camera with "from":"_gw": forwarded as this client (the camera
                   answers this client, from --camera), then END
  otherTopics      publishing on the camera's up and status topics: the broker's ACL drops them;
                   no reply, and the camera is still online in the next DIRECTORY
  flood            30 DIRECTORY_REQUESTs at once: some 429 rate-limited with retryAfterMs; after
                   waiting that long, the next request succeeds

Prints one JSON line {"ok": bool, "cases": {name: {...}}, "seconds": n}; "ok" only means the page
ran every case (the Swift test judges the answers). Every wait is bounded.

Usage: chromium_bad_input.py --base http://127.0.0.1:PORT --id viewer-1 --password P --camera cam-1
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chromium_session import IMPORT_CLIENT, headless_chromium  # noqa: E402

SCRIPT = r"""
const [cfg, done] = [arguments[0], arguments[arguments.length - 1]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
""" + IMPORT_CLIENT + r"""
  const client = new rtcgate.RtcgateClient({ url: `ws://${location.host}/mqtt`, clientId: cfg.id, password: cfg.password });
  const states = [];
  client.onstatus = (state) => states.push(state);
  await client.connect();
  let inbox = [];
  const tap = () => { // every down message, before the client's own handling
    const original = client.mqtt.onmessage;
    client.mqtt.onmessage = (topic, payload, info) => {
      if (topic === client.topics.down) { try { inbox.push(JSON.parse(payload)); } catch { inbox.push({ unreadable: payload }); } }
      original(topic, payload, info);
    };
  };
  tap();
  const up = (payload) => client.mqtt.publish(client.topics.up, payload, { qos: 1 });
  const waitFor = async (predicate, ms) => {
    const until = performance.now() + ms;
    while (performance.now() < until) { const m = inbox.find(predicate); if (m) return m; await sleep(20); }
    return null;
  };
  const statusOf = (m) => m && { type: m.type, code: m.code, error: m.error, mid: m.mid ?? null, message: m.message };
  const cases = {};

  inbox = [];
  await up(" ".repeat(66000));
  cases.oversized = statusOf(await waitFor((m) => m.type === "STATUS", 5000));

  inbox = [];
  await up("{not json");
  cases.notJson = statusOf(await waitFor((m) => m.type === "STATUS", 5000));

  const wrong = {
    v: { v: "1", type: "ICE_CONFIG_REQUEST", mid: "t-v", body: {} },
    type: { v: 1, type: 7, mid: "t-type", body: {} },
    sid: { v: 1, type: "OFFER", mid: "t-sid", sid: {}, to: cfg.camera, body: { sdp: "v=0\r\n" } },
    body: { v: 1, type: "OFFER", mid: "t-body", sid: "s-body", to: cfg.camera, body: [] },
    sdp: { v: 1, type: "OFFER", mid: "t-sdp", sid: "s-sdp", to: cfg.camera, body: { sdp: 42 } },
    candidates: { v: 1, type: "CANDIDATES", mid: "t-cand", sid: "s-cand", to: cfg.camera, seq: 1, body: { candidates: "x" } },
  };
  cases.wrongTypes = {};
  for (const [name, message] of Object.entries(wrong)) {
    inbox = [];
    await up(JSON.stringify(message));
    cases.wrongTypes[name] = statusOf(await waitFor((m) => m.type === "STATUS" && m.mid === message.mid, 5000));
  }

  inbox = [];
  await up(JSON.stringify({ v: 1, type: "DANCE", mid: "t-dance", body: {} }));
  cases.unknownType = statusOf(await waitFor((m) => m.mid === "t-dance", 5000));
  inbox = [];
  await up(JSON.stringify({ v: 1, type: "DIRECTORY", mid: "t-dir", body: { devices: [] } }));
  cases.gatewayOnly = statusOf(await waitFor((m) => m.mid === "t-dir", 5000));

  // A real offer from this browser, claiming to come from the gateway.
  const pc = new RTCPeerConnection({ iceServers: client.iceConfig.iceServers, iceTransportPolicy: client.iceConfig.iceTransportPolicy });
  pc.addTransceiver("video", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  const sid = crypto.randomUUID();
  inbox = [];
  await up(JSON.stringify({ v: 1, type: "OFFER", sid, to: cfg.camera, from: "_gw", seq: 0, mid: "t-forged", body: { sdp: pc.localDescription.sdp } }));
  const answer = await waitFor((m) => m.type === "ANSWER" && m.sid === sid, 10000);
  cases.forgedFrom = { accepted: statusOf(inbox.find((m) => m.mid === "t-forged")), answerFrom: answer && answer.from };
  await up(JSON.stringify({ v: 1, type: "END", sid, to: cfg.camera, seq: 1, body: { reason: "hangup" } }));
  pc.close();

  inbox = [];
  const cameraUp = client.topics.up.replace(/[^/]+$/, cfg.camera), cameraStatus = client.topics.status.replace(/[^/]+$/, cfg.camera);
  await client.mqtt.publish(cameraUp, JSON.stringify({ v: 1, type: "ICE_CONFIG_REQUEST", mid: "t-other", body: {} }), { qos: 1 });
  await client.mqtt.publish(cameraStatus, JSON.stringify({ state: "offline" }), { qos: 1, retain: true });
  await sleep(700);
  const afterwards = await client.request("DIRECTORY_REQUEST", {});
  cases.otherTopics = { repliesToForeignPublish: inbox.filter((m) => m.mid === "t-other").length,
    cameraOnline: afterwards.body.devices.some((d) => d.id === cfg.camera && d.online) };

  await sleep(2100); // the directory bucket refills after the requests above
  const results = await Promise.allSettled(Array.from({ length: 30 }, () => client.request("DIRECTORY_REQUEST", {})));
  const refused = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  const retryAfter = Math.max(0, ...refused.map((e) => e.retryAfterMs || 0));
  await sleep(retryAfter + 50);
  let retried = null;
  try { retried = (await client.request("DIRECTORY_REQUEST", {})).type; } catch (e) { retried = `${e.name}`; }
  cases.flood = { answered: results.length - refused.length, refused: refused.length,
    refusals: [...new Set(refused.map((e) => `${e.code} ${e.name}`))], retryAfterMs: retryAfter, retried };

  // A payload over the broker's limit (message_size_limit: mosquitto 2.0.11 applies max_packet_size
  // to TCP only): the broker drops it; nothing reaches rtcgate, the connection stays.
  states.length = 0;
  inbox = [];
  await up(" ".repeat(80000)).catch(() => {});
  await sleep(1000);
  const reply = await client.request("ICE_CONFIG_REQUEST", {}).then((m) => m.type, (e) => e.name);
  cases.brokerLimit = { states: [...states], replies: inbox.filter((m) => m.type === "STATUS").map(statusOf), next: reply };
  await client.close();
  return { cases };
})().then(done, (e) => done({ error: String(e && e.message || e) }));
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="http://127.0.0.1:PORT of the broker's WebSockets listener")
    p.add_argument("--id", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--camera", required=True)
    args = p.parse_args()
    started = time.monotonic()
    result = {"ok": False}
    try:
        with headless_chromium(script_timeout=90) as driver:
            driver.get(args.base.rstrip("/") + "/README.md")  # any page of the origin
            out = driver.execute_async_script(SCRIPT, {"id": args.id, "password": args.password, "camera": args.camera})
        result.update(out or {"error": "no result from the page"})
        result["ok"] = "error" not in result
    except Exception as e:  # noqa: BLE001
        result["error"] = f"{type(e).__name__}: {e}"
    result["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A camera for rtcgate, written from docs/signaling.md: it stays online and answers every
viewer's OFFER with its test-pattern video and beeping audio (Tests/Clients/test_pattern.py;
--no-audio for video only), several viewers at once, until --duration passes or SIGTERM. aiortc for WebRTC, paho-mqtt for the broker.

- Connects with its Last Will, subscribes down/{id} and status/_gw, publishes `online`.
- ICE_CONFIG_REQUEST once, and takes pushed ICE_CONFIGs (credential refresh).
- OFFER → ANSWER (aiortc gathers before answering, so the SDP holds every candidate; an empty
  CANDIDATES with done:true follows), remote CANDIDATES added as they come, END closes.
- On exit: END to every viewer, `offline`, DISCONNECT. Prints one JSON line: sessions answered,
  ended, frames sent. Every wait is bounded.

Usage: camera_device.py --broker HOST:PORT --id cam-1 --password P [--duration 120] [--fps 15] [--no-audio]
"""

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid

import paho.mqtt.client as mqtt
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from test_pattern import TestPatternTrack, TestToneTrack


class Camera:
    def __init__(self, args, loop):
        self.args, self.loop = args, loop
        p = args.prefix
        self.up, self.down, self.status = f"{p}/up/{args.id}", f"{p}/down/{args.id}", f"{p}/status/{args.id}"
        self.sessions = {}  # sid -> {"pc", "peer", "track", "seq"}
        self.ice = None
        self.pending = {}
        self.stats = {"answered": 0, "ended": 0, "frames": 0, "errors": []}
        self.ready = loop.create_future()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(args.id, args.password)
        self.client.will_set(self.status, json.dumps({"state": "offline"}), qos=1, retain=True)
        self.client.on_connect = lambda c, u, f, rc, p: loop.call_soon_threadsafe(self._connected, rc)
        self.client.on_message = lambda c, u, m: loop.call_soon_threadsafe(self._message, m.payload)

    def _connected(self, rc):
        if rc != 0:
            if not self.ready.done():
                self.ready.set_exception(RuntimeError(f"broker refused the login: {rc}"))
            return
        self.client.subscribe([(self.down, 1)])
        self.client.publish(self.status, json.dumps({"state": "online"}), qos=1, retain=True)
        self.request("ICE_CONFIG_REQUEST", {})

    def request(self, typ, body):
        mid = uuid.uuid4().hex[:8]
        self.client.publish(self.up, json.dumps({"v": 1, "type": typ, "mid": mid, "body": body}), qos=1)

    def send(self, session, typ, body):
        session["seq"] += 1
        self.client.publish(self.up, json.dumps({"v": 1, "type": typ, "sid": session["sid"], "to": session["peer"],
                                                 "seq": session["seq"], "body": body}), qos=1)

    def _message(self, payload):
        try:
            m = json.loads(payload)
        except ValueError:
            return
        typ = m.get("type")
        if typ == "ICE_CONFIG":
            self.ice = m.get("body") or {}
            if not self.ready.done():
                self.ready.set_result(True)
        elif typ == "OFFER":
            asyncio.ensure_future(self._answer(m))
        elif typ == "CANDIDATES" and m.get("sid") in self.sessions:
            asyncio.ensure_future(self._candidates(self.sessions[m["sid"]], m.get("body") or {}))
        elif typ == "END" and m.get("sid") in self.sessions:
            asyncio.ensure_future(self._close(m["sid"]))
        elif typ == "STATUS" and m.get("code") != 200:
            self.stats["errors"].append(m.get("error"))

    def _configuration(self):
        servers = []
        for s in self.ice.get("iceServers", []):
            urls = s["urls"] if isinstance(s["urls"], list) else [s["urls"]]
            urls = [u for u in urls if not u.startswith("turns:")]  # aiortc's ICE has no TLS TURN
            if urls:
                servers.append(RTCIceServer(urls=urls, username=s.get("username"), credential=s.get("credential")))
        return RTCConfiguration(iceServers=servers)

    async def _answer(self, m):
        sid, peer = m.get("sid"), m.get("from")
        if sid in self.sessions:
            return
        pc = RTCPeerConnection(self._configuration())
        track = TestPatternTrack(fps=self.args.fps)
        session = self.sessions[sid] = {"sid": sid, "peer": peer, "pc": pc, "track": track, "seq": 0}
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=m["body"]["sdp"], type="offer"))
            # Media for what the viewer offered to receive (a video-only viewer gets no audio).
            kinds = {t.kind for t in pc.getTransceivers()}
            if "video" in kinds:
                pc.addTrack(track)
            if "audio" in kinds and not self.args.no_audio:
                pc.addTrack(TestToneTrack())
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as e:  # noqa: BLE001 - an unusable OFFER ends that session only
            self.stats["errors"].append(f"answer: {e}")
            self.send(session, "END", {"reason": "declined"})
            await self._close(sid)
            return
        # (A relay-only camera's other candidates are stripped by the gateway, docs §13.)
        self.send(session, "ANSWER", {"sdp": pc.localDescription.sdp})
        self.send(session, "CANDIDATES", {"candidates": [], "done": True})
        self.stats["answered"] += 1

    async def _candidates(self, session, body):
        for c in body.get("candidates") or []:
            text = (c.get("candidate") or "").removeprefix("candidate:")
            if not text:
                continue
            try:
                candidate = candidate_from_sdp(text)
                candidate.sdpMid, candidate.sdpMLineIndex = c.get("sdpMid"), c.get("sdpMLineIndex")
                await session["pc"].addIceCandidate(candidate)
            except Exception:  # noqa: BLE001 - e.g. an mDNS host candidate aiortc cannot use
                pass

    async def _close(self, sid, tell=False):
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        if tell:
            self.send(session, "END", {"reason": "hangup"})
        self.stats["frames"] += session["track"].frames
        self.stats["ended"] += 1
        await session["pc"].close()

    async def run(self):
        host, port = self.args.broker.rsplit(":", 1)
        self.client.connect_async(host.strip("[]"), int(port), keepalive=30, clean_start=True)
        self.client.loop_start()
        await asyncio.wait_for(self.ready, 15)
        print(json.dumps({"ready": True}), flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, stop.set)
        try:
            await asyncio.wait_for(stop.wait(), self.args.duration)
        except asyncio.TimeoutError:
            pass
        for sid in list(self.sessions):
            await self._close(sid, tell=True)
        info = self.client.publish(self.status, json.dumps({"state": "offline"}), qos=1, retain=True)
        deadline = time.monotonic() + 3
        while not info.is_published() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()
        return self.stats


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--prefix", default="rtc/v1")
    p.add_argument("--duration", type=float, default=120)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--no-audio", action="store_true", help="send video only")
    args = p.parse_args()

    async def go():
        return await Camera(args, asyncio.get_running_loop()).run()
    try:
        result = asyncio.run(go())
        result["ok"] = True
    except Exception as e:  # noqa: BLE001
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

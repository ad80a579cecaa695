#!/usr/bin/env python3
"""A WebRTC peer that signals through rtcgate over MQTT, written only from docs/signaling.md.

It plays the part of a third-party app: aiortc for WebRTC (ICE, DTLS, SCTP data channel) and
paho-mqtt 2.x for MQTT, nothing from this project. One run is one call with one peer:

  1. connect to the broker (username = client id, clean session, keepalive 30 s) with a retained
     Last Will {"state":"offline"} on {prefix}/status/{id}; subscribe {prefix}/down/{id} and
     {prefix}/status/_gw; publish {"state":"online"} retained;
  2. wait (bounded) until the gateway's retained {prefix}/status/_gw is online;
  3. ICE_CONFIG_REQUEST (with mid) -> ICE_CONFIG; an RTCPeerConnection with those iceServers and
     that iceTransportPolicy (aiortc 1.16 has RTCConfiguration.iceTransportPolicy, which it passes
     to aioice's TransportPolicy: with "relay" only TURN candidates are gathered and paired);
  4. offerer: a data channel, OFFER (mid, expects STATUS 200), then CANDIDATES
     {"candidates":[],"done":true} (aiortc puts every candidate in the SDP, so there is nothing
     to trickle), then waits for the ANSWER. Answerer: waits for the OFFER from --peer, replies
     ANSWER (mid, STATUS 200) and CANDIDATES done. Remote CANDIDATES are applied (buffered until
     the remote SDP is set; done -> end-of-candidates);
  5. N messages each way over the data channel, in lock-step: "ping i" -> "pong i";
  6. checks that the selected ICE pair's local candidate is a relay candidate;
  7. END {reason:"hangup"}: the offerer sends it; the answerer waits for it (bounded) and sends
     its own only if it does not come; then publishes {"state":"offline"} and disconnects.

Every message carries a mid (replies are checked: STATUS code 200, or ICE_CONFIG for
ICE_CONFIG_REQUEST; with MQTT 5 the Correlation Data must be echoed) and a strictly increasing
seq; forwarded messages are de-duplicated by (from, sid, seq). rate-limited replies are retried
after retryAfterMs with a new seq. Every STATUS error received is printed to stderr.

Prints one JSON line on stdout and exits 0 on success:
  {"ok":true,"role":"offerer","sent":N,"received":N,"localCandidateType":"relay",
   "remoteCandidateTypes":["relay"],"iceConfigUsername":"1767229200:cam-1"}
or {"ok":false,"error":"..."} and exits 1. The whole run is bounded by --timeout (default 60 s).

Usage: webrtc_peer.py --broker 127.0.0.1:PORT --id ID --password PW --peer PEER_ID
                      --role offerer|answerer [--prefix rtc/v1] [--mqtt 5|3] [--messages N]
                      [--timeout SEC] [--sid SID] [--policy config|relay|all]
                      [--allow-direct] [--verbose]
"""

import argparse
import asyncio
import itertools
import json
import sys
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from link_probe import link_report

FORWARDED = ("OFFER", "ANSWER", "CANDIDATES", "END")
MAX_PAYLOAD = 65536  # docs/signaling.md §6
KEEPALIVE = 30  # docs/signaling.md §3: at most 60 s, 30 s recommended
REPLY_TIMEOUT = 10.0  # docs/signaling.md §8: "10 s is reasonable"


class PeerError(Exception):
    pass


class Ended(Exception):
    """The session was ended (END from the peer or the gateway)."""


class WaitTimeout(PeerError):
    """A bounded wait ran out."""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    p.add_argument("--id", required=True, help="this client's id (= MQTT username)")
    p.add_argument("--password", required=True)
    p.add_argument("--peer", required=True, help="the other client's id")
    p.add_argument("--role", required=True, choices=["offerer", "answerer"])
    p.add_argument("--prefix", default="rtc/v1")
    p.add_argument("--mqtt", default="5", choices=["5", "3"], help="MQTT 5 or 3.1.1")
    p.add_argument("--messages", type=int, default=5, help="data channel messages each way")
    p.add_argument("--timeout", type=float, default=60.0, help="hard limit for the whole run (s)")
    p.add_argument("--sid", help="offerer: the sid to use; answerer: accept only this sid")
    p.add_argument("--policy", default="config", choices=["config", "relay", "all"],
                   help="ICE transport policy: as ICE_CONFIG says (default), or forced")
    p.add_argument("--allow-direct", action="store_true",
                   help="do not fail when the selected local candidate is not a relay one")
    p.add_argument("--verbose", action="store_true", help="log every MQTT message to stderr")
    p.add_argument("--link-report", action="store_true",
                   help="probe every relay ICE_CONFIG lists (STUN round trips) and send LINK_REPORT")
    p.add_argument("--path", action="store_true",
                   help="ask ICE_CONFIG for the call (body.peer): the relay of the chosen path")
    p.add_argument("--turn-host", metavar="IP",
                   help="use this host in every STUN/TURN URL of ICE_CONFIG (a relay of the same cluster, "
                        "which accepts the same credentials)")
    p.add_argument("--probe-seconds", type=float, default=0,
                   help="offerer: after the pings, this long of 20 ms pings on an unreliable, unordered "
                        "data channel; reports their round-trip times and loss")
    p.add_argument("--video-frames", type=int, default=0,
                   help="answerer: send a test-pattern video track (a camera); offerer: also receive "
                        "video and require this many decoded frames before hanging up")
    args = p.parse_args(argv)
    host, sep, port = args.broker.rpartition(":")
    if not sep or not host or not port.isdigit():
        p.error("--broker must be HOST:PORT")
    args.host, args.port = host.strip("[]"), int(port)
    if args.messages < 1:
        p.error("--messages must be at least 1")
    for name in ("id", "peer"):
        v = getattr(args, name)
        if not (1 <= len(v.encode()) <= 64) or v.startswith("_"):
            p.error(f"--{name}: a client id is 1-64 bytes and does not start with '_'")
    return args


class Signaling:
    """The MQTT side: connection, presence, requests with mid, and the down-topic dispatcher."""

    def __init__(self, args, loop, deadline):
        self.args = args
        self.loop = loop
        self.deadline = deadline
        self.v5 = args.mqtt == "5"
        p, me = args.prefix, args.id
        self.t_up, self.t_down = f"{p}/up/{me}", f"{p}/down/{me}"
        self.t_status, self.t_gw = f"{p}/status/{me}", f"{p}/status/_gw"
        self.mid_prefix = uuid.uuid4().hex[:8]
        self.mids = itertools.count(1)
        self.seqs = itertools.count(1)
        self.pending = {}  # mid -> Future[(message, properties)]
        self.seen = {}  # (from, sid) -> highest seq processed
        self.session_queue = asyncio.Queue()  # forwarded/gateway messages of our session
        self.sid = None
        self.gw_online = asyncio.Event()
        self.gw_state = None
        self.connect_result = loop.create_future()
        self.suback = None
        self.lost = loop.create_future()  # set when the broker connection drops unexpectedly
        self.closing = False
        self.status_errors = []
        self.warned_expiry = False
        self.pushed_ice = 0

        proto = mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        kwargs = {} if self.v5 else {"clean_session": True}
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=me, protocol=proto, **kwargs)
        self.client.username_pw_set(me, args.password)
        self.client.will_set(self.t_status, json.dumps({"state": "offline"}), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    # ---- helpers ----
    def log(self, *parts):
        print(f"[{self.args.id}]", *parts, file=sys.stderr, flush=True)

    def remaining(self, cap=None):
        left = max(0.0, self.deadline - time.monotonic())
        return left if cap is None else min(cap, left)

    def _call(self, fn, *a):  # paho thread -> asyncio thread
        self.loop.call_soon_threadsafe(fn, *a)

    # ---- paho callbacks (network thread) ----
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._call(self._connected, reason_code.is_failure, str(reason_code))

    def _on_connect_fail(self, client, userdata):
        self._call(self._connected, True, "cannot open a TCP connection")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._call(self._subscribed, [(rc.is_failure, str(rc)) for rc in reason_codes])

    def _on_message(self, client, userdata, msg):
        self._call(self._message, msg.topic, bytes(msg.payload), msg.properties, msg.retain)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._call(self._disconnected, str(reason_code))

    # ---- the same, on the asyncio thread ----
    def _connected(self, failed, reason):
        if not self.connect_result.done():
            self.connect_result.set_result((failed, reason))

    def _subscribed(self, codes):
        if self.suback is not None and not self.suback.done():
            self.suback.set_result(codes)

    def _disconnected(self, reason):
        if not self.closing and self.connect_result.done() and not self.lost.done():
            self.lost.set_result(f"lost the broker connection ({reason})")

    def _message(self, topic, payload, props, retained):
        if topic == self.t_gw:
            try:
                state = json.loads(payload)["state"] if payload else "offline"
            except (ValueError, TypeError, KeyError):
                state = f"unreadable {payload[:60]!r}"
            if state != self.gw_state:
                self.log(f"gateway status: {state}{' (retained)' if retained else ''}")
            self.gw_state = state
            (self.gw_online.set if state == "online" else self.gw_online.clear)()
            return
        if topic != self.t_down:
            self.log(f"message on unexpected topic {topic}")
            return
        if self.args.verbose:
            self.log(f"<- {payload.decode(errors='replace')[:300]}")
        try:
            m = json.loads(payload)
        except ValueError:
            self.log(f"unreadable message on {topic}: {payload[:80]!r}")
            return
        if not isinstance(m, dict):
            self.log(f"non-object message on {topic}")
            return
        if self.v5 and not self.warned_expiry and (
                props is None or not hasattr(props, "MessageExpiryInterval")):
            self.warned_expiry = True
            self.log("warning: a down message has no MQTT 5 Message Expiry (docs §8 says 60 s)")
        typ = m.get("type")
        if typ == "STATUS":
            self._status(m, props)
        elif typ == "ICE_CONFIG":
            if "mid" in m:
                self._reply(m, props)
            else:
                self.pushed_ice += 1
                self.log("pushed ICE_CONFIG received (credential refresh)")
        elif typ == "PEER_STATUS":
            self.log(f"PEER_STATUS {json.dumps(m.get('body'))}")
        elif typ == "GO_AWAY":
            self.log(f"GO_AWAY {json.dumps(m.get('body'))}")
        elif typ in FORWARDED:
            self._forwarded(m)
        else:
            self.log(f"ignoring message of unknown type {typ!r}")

    def _status(self, m, props):
        if m.get("code") != 200 or "error" in m:
            self.status_errors.append(m)
            print(f"[{self.args.id}] STATUS error: {json.dumps(m)}", file=sys.stderr, flush=True)
        if "mid" in m:
            self._reply(m, props)
        elif m.get("code") != 200 and (m.get("sid") in (None, self.sid)) and self.sid:
            # An error without mid about our session: something we sent was not delivered.
            self.session_queue.put_nowait({"type": "_ERROR", "status": m})

    def _reply(self, m, props):
        fut = self.pending.get(str(m.get("mid")))
        if fut is None or fut.done():
            self.log(f"ignoring reply for mid {m.get('mid')!r} (duplicate or not ours)")
            return
        fut.set_result((m, props))

    def _forwarded(self, m):
        frm, sid, typ = m.get("from"), m.get("sid"), m.get("type")
        seq = m.get("seq")
        if frm != "_gw" and isinstance(seq, int) and not isinstance(seq, bool):
            key = (frm, sid)
            if key in self.seen and seq <= self.seen[key]:
                self.log(f"dropping duplicate {typ} from {frm} (seq {seq})")
                return
            self.seen[key] = seq
        if (self.sid is None and typ == "OFFER" and self.args.role == "answerer"
                and frm == self.args.peer and (self.args.sid is None or sid == self.args.sid)):
            self.sid = sid
        if sid is not None and sid == self.sid and frm in (self.args.peer, "_gw"):
            self.session_queue.put_nowait(m)
        elif typ == "OFFER" and frm != "_gw":
            self.log(f"declining an OFFER from {frm} (sid {sid}): busy")
            self.publish({"v": 1, "type": "END", "sid": sid, "to": frm, "seq": next(self.seqs),
                          "body": {"reason": "busy"}})
        else:
            self.log(f"ignoring {typ} from {frm} for sid {sid!r}")

    # ---- operations ----
    async def connect(self):
        a = self.args
        if self.v5:
            self.client.connect_async(a.host, a.port, keepalive=KEEPALIVE, clean_start=True)
        else:
            self.client.connect_async(a.host, a.port, keepalive=KEEPALIVE)
        self.client.loop_start()
        try:
            failed, reason = await asyncio.wait_for(asyncio.shield(self.connect_result),
                                                    self.remaining(10))
        except asyncio.TimeoutError:
            raise PeerError(f"no CONNACK from the broker {a.host}:{a.port}")
        if failed:
            raise PeerError(f"MQTT connection to {a.host}:{a.port} as {a.id!r} refused: {reason}")
        self.suback = self.loop.create_future()
        self.client.subscribe([(self.t_down, 1), (self.t_gw, 1)])
        try:
            codes = await asyncio.wait_for(self.suback, self.remaining(10))
        except asyncio.TimeoutError:
            raise PeerError("no SUBACK from the broker")
        refused = [f"{t}: {rc}" for t, (bad, rc) in zip((self.t_down, self.t_gw), codes) if bad]
        if refused:
            raise PeerError(f"subscription refused by the broker ({'; '.join(refused)})")
        await self.publish_and_wait(self.t_status, {"state": "online"}, retain=True)

    async def publish_and_wait(self, topic, obj, retain=False, timeout=5.0, bounded=True):
        """QoS 1 publish, waiting for the PUBACK (bounded by the run's deadline unless
        `bounded` is False: the clean-up has its own small budget)."""
        info = self.client.publish(topic, json.dumps(obj, separators=(",", ":")), qos=1,
                                   retain=retain)
        end = time.monotonic() + (self.remaining(timeout) if bounded else timeout)
        while not info.is_published():
            if time.monotonic() >= end:
                raise PeerError(f"no PUBACK for the message on {topic}")
            await asyncio.sleep(0.01)

    async def wait_gateway(self):
        limit = self.remaining(10)
        try:
            await asyncio.wait_for(self.gw_online.wait(), limit)
        except asyncio.TimeoutError:
            seen = "no retained status" if self.gw_state is None else f"state {self.gw_state!r}"
            raise PeerError(f"gateway not online: {seen} on {self.t_gw} within {limit:.1f} s "
                            f"(is rtcgate running and connected to this broker?)")

    def publish(self, msg, mid=None):
        payload = json.dumps(msg, separators=(",", ":"))
        if len(payload.encode()) > MAX_PAYLOAD:
            raise PeerError(f"{msg['type']} would be {len(payload.encode())} bytes (> {MAX_PAYLOAD})")
        props = None
        if self.v5 and mid is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = mid.encode()
        if self.args.verbose:
            self.log(f"-> {payload[:300]}")
        info = self.client.publish(self.t_up, payload, qos=1, retain=False, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PeerError(f"publish failed: {mqtt.error_string(info.rc)}")

    async def request(self, typ, body, sid=None, to=None, accept=(200,)):
        """Sends a request with a mid and returns its reply (ICE_CONFIG, or a STATUS whose code
        is in `accept`). Retries rate-limited refusals after retryAfterMs, with a new seq."""
        want = "ICE_CONFIG" if typ == "ICE_CONFIG_REQUEST" else "STATUS"
        for attempt in range(5):
            mid = f"{self.mid_prefix}-{next(self.mids)}"
            msg = {"v": 1, "type": typ}
            if sid is not None:
                msg["sid"], msg["to"] = sid, to
            msg.update({"mid": mid, "seq": next(self.seqs), "body": body})
            fut = self.loop.create_future()
            self.pending[mid] = fut
            try:
                self.publish(msg, mid)
                limit = self.remaining(REPLY_TIMEOUT)
                done, _ = await asyncio.wait({fut, self.lost}, timeout=limit,
                                             return_when=asyncio.FIRST_COMPLETED)
                if fut not in done:
                    if self.lost in done:
                        raise PeerError(self.lost.result())
                    raise PeerError(f"no reply to {typ} (mid {mid}) within {limit:.1f} s")
                reply, props = fut.result()
            finally:
                self.pending.pop(mid, None)
            if self.v5 and getattr(props, "CorrelationData", None) != mid.encode():
                raise PeerError(f"the reply to {typ} (mid {mid}) does not echo the MQTT 5 "
                                f"Correlation Data (got {getattr(props, 'CorrelationData', None)!r})")
            if reply.get("mid") != mid:
                raise PeerError(f"reply mid {reply.get('mid')!r} is not the request's {mid!r}")
            rtype, code = reply.get("type"), reply.get("code")
            if rtype == "STATUS" and code == 429 and attempt < 4:
                wait_ms = reply.get("retryAfterMs")
                wait_ms = wait_ms if isinstance(wait_ms, int) and wait_ms >= 0 else 1000
                self.log(f"{typ} rate-limited, retrying in {wait_ms} ms")
                await asyncio.sleep(min(wait_ms / 1000.0, self.remaining()))
                continue
            if rtype == "STATUS" and code not in accept:
                raise PeerError(f"{typ} refused: {code} {reply.get('error')}: "
                                f"{reply.get('message')}")
            if rtype != want and not (rtype == "STATUS" and code in accept):
                raise PeerError(f"expected {want} in reply to {typ}, got {rtype}")
            return reply
        raise PeerError(f"{typ} still rate-limited after 5 attempts")

    async def close(self):
        self.closing = True
        try:
            if self.connect_result.done() and not self.connect_result.result()[0]:
                await self.publish_and_wait(self.t_status, {"state": "offline"}, retain=True,
                                            timeout=3.0, bounded=False)
        except PeerError as e:
            self.log(f"could not publish offline: {e}")
        finally:
            self.client.disconnect()
            self.client.loop_stop()


def ice_configuration(body, forced_policy, log):
    """RTCConfiguration from an ICE_CONFIG body (docs §7.6), keeping the URLs aiortc supports."""
    servers, turn_username = [], None
    for entry in body.get("iceServers") or []:
        urls = entry.get("urls")
        urls = [urls] if isinstance(urls, str) else list(urls or [])
        usable = []
        for u in urls:
            scheme, _, rest = u.partition(":")
            transport = rest.partition("?transport=")[2]
            if scheme == "stun" or (scheme == "turn" and transport in ("", "udp", "tcp")) \
                    or (scheme == "turns" and transport in ("", "tcp")):
                usable.append(u)
            else:
                log(f"skipping ICE URL aiortc does not support: {u}")
        if not usable:
            continue
        if entry.get("username") and turn_username is None:
            turn_username = entry["username"]
        servers.append(RTCIceServer(urls=usable, username=entry.get("username"),
                                    credential=entry.get("credential")))
    if not servers:
        raise PeerError("ICE_CONFIG has no usable iceServers")
    policy = forced_policy if forced_policy != "config" else body.get("iceTransportPolicy", "all")
    try:
        policy_enum = RTCIceTransportPolicy(policy)
    except ValueError:
        raise PeerError(f"ICE_CONFIG has an unknown iceTransportPolicy {policy!r}")
    # aiortc 1.16: RTCConfiguration.iceTransportPolicy is handed to aioice as
    # TransportPolicy.RELAY, which gathers only TURN (relay) candidates and hides their related
    # address, so no filtering of our own is needed.
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy_enum), turn_username, policy


def pair_text(pc):
    """The nominated pair as 'local-type host:port -> remote-type host:port' (or None)."""
    _, pair = selected_pair(pc)
    if pair is None:
        return None
    return (f"{pair.local_candidate.type} {pair.local_candidate.host}:{pair.local_candidate.port} -> "
            f"{pair.remote_candidate.type} {pair.remote_candidate.host}:{pair.remote_candidate.port}")


def selected_pair(pc):
    """The nominated ICE candidate pair of the data channel's transport. aiortc has no public
    API for it; in 1.16 it is RTCSctpTransport -> RTCDtlsTransport -> RTCIceTransport ->
    aioice Connection._nominated[component 1] (a CandidatePair)."""
    ice = pc.sctp.transport.transport
    pair = ice._connection._nominated.get(1)
    return ice, pair


class Call:
    def __init__(self, sig, args):
        self.sig, self.args = sig, args
        self.pc = None
        self.remote_set = False
        self.buffered = []
        self.failure = sig.loop.create_future()
        self.end_msg = sig.loop.create_future()
        self.exchange_done = asyncio.Event()
        self.got_offer = sig.loop.create_future()
        self.got_answer = sig.loop.create_future()
        self.sent = self.received = 0
        self.live = False  # the gateway has a session for our sid (OFFER accepted or received)
        self.frames = 0  # video frames decoded (offerer with --video-frames)
        self.video_done = asyncio.Event()
        self.ended = False

    def fail(self, exc):
        if not self.failure.done():
            self.failure.set_result(exc)

    async def guard(self, aw, what, cap=None):
        """Awaits `aw`, bounded by the run's deadline (and `cap`), and aborts on a failure."""
        task = asyncio.ensure_future(aw)
        limit = self.sig.remaining(cap)
        done, _ = await asyncio.wait({task, self.failure, self.sig.lost}, timeout=limit,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        if self.failure in done:
            raise self.failure.result()
        if self.sig.lost in done:
            raise PeerError(self.sig.lost.result())
        raise WaitTimeout(f"timed out after {limit:.1f} s waiting for {what}")

    async def pump(self):
        while True:
            m = await self.sig.session_queue.get()
            try:
                await self.handle(m)
            except Exception as e:  # noqa: BLE001 — any failure ends the run
                self.fail(e if isinstance(e, (PeerError, Ended)) else PeerError(f"{type(e).__name__}: {e}"))

    async def handle(self, m):
        typ, frm = m.get("type"), m.get("from")
        body = m.get("body") if isinstance(m.get("body"), dict) else {}
        if typ == "_ERROR":
            st = m["status"]
            raise PeerError(f"a message was refused: {st.get('code')} {st.get('error')}: {st.get('message')}")
        if typ == "END":
            self.ended = True
            reason = body.get("reason")
            if not self.end_msg.done():
                self.end_msg.set_result(m)
            if not self.exchange_done.is_set():
                raise Ended(f"session ended by {frm}: {reason}")
            return
        if typ == "OFFER":
            if not self.got_offer.done():
                self.got_offer.set_result(m)
            else:  # renegotiation (docs §11.3)
                await self.answer(m)
            return
        if typ == "ANSWER":
            if self.args.role != "offerer":
                raise PeerError("received an ANSWER as answerer")
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
            await self.remote_applied()
            if not self.got_answer.done():
                self.got_answer.set_result(m)
            return
        if typ == "CANDIDATES":
            if self.remote_set:
                await self.apply_candidates(body)
            else:
                self.buffered.append(body)
            return

    async def remote_applied(self):
        self.remote_set = True
        while self.buffered:
            await self.apply_candidates(self.buffered.pop(0))

    async def apply_candidates(self, body):
        for c in body.get("candidates") or []:
            text = c.get("candidate") or ""
            text = text[2:] if text.startswith("a=") else text
            text = text[len("candidate:"):] if text.startswith("candidate:") else text
            if not text:
                continue
            cand = candidate_from_sdp(text)
            cand.sdpMid, cand.sdpMLineIndex = c.get("sdpMid"), c.get("sdpMLineIndex")
            if cand.sdpMid is None and cand.sdpMLineIndex is None:
                cand.sdpMLineIndex = 0
            await self.pc.addIceCandidate(cand)
        if body.get("done") is True:
            await self.pc.addIceCandidate(None)

    async def send_session(self, typ, body):
        return await self.sig.request(typ, body, sid=self.sig.sid, to=self.args.peer)

    async def answer(self, offer_msg):
        if self.args.video_frames:  # a camera: its test pattern goes out on the offered video line
            from test_pattern import TestPatternTrack
            self.pc.addTrack(TestPatternTrack())
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=offer_msg["body"]["sdp"], type="offer"))
        await self.remote_applied()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.send_session("ANSWER", {"sdp": self.pc.localDescription.sdp})
        await self.send_session("CANDIDATES", {"candidates": [], "done": True})

    def wire_channel(self, dc):
        n = self.args.messages
        if dc.label == "probe":  # answerer: echo the unreliable pings at once
            dc.on("message", lambda text: dc.send(text))
            return

        def on_message(text):
            try:
                if self.args.role == "answerer":
                    if text != f"ping {self.received + 1}":
                        raise PeerError(f"data channel: expected 'ping {self.received + 1}', got {text!r}")
                    self.received += 1
                    dc.send(f"pong {self.received}")
                    self.sent += 1
                    if self.received == n:
                        self.exchange_done.set()
                else:
                    if text != f"pong {self.sent}":
                        raise PeerError(f"data channel: expected 'pong {self.sent}', got {text!r}")
                    self.received += 1
                    if self.received == n:
                        self.exchange_done.set()
                    else:
                        self.sent += 1
                        dc.send(f"ping {self.sent}")
            except PeerError as e:
                self.fail(e)

        dc.on("message", on_message)

    async def run(self, ice_config):
        args, sig = self.args, self.sig
        self.pc = RTCPeerConnection(ice_config)

        @self.pc.on("connectionstatechange")
        def _state():
            sig.log(f"connection state: {self.pc.connectionState}")
            if self.pc.connectionState == "failed":
                self.fail(PeerError("ICE/DTLS connection failed"))

        self.ice_states = []

        @self.pc.on("iceconnectionstatechange")
        def _ice_state():
            self.ice_states.append(self.pc.iceConnectionState)
            sig.log(f"ICE connection state: {self.pc.iceConnectionState}")

        pump = asyncio.ensure_future(self.pump())
        try:
            if args.role == "offerer" and args.video_frames:
                self.pc.addTransceiver("video", direction="recvonly")

                @self.pc.on("track")
                def _track(track):
                    async def count():
                        try:
                            while True:  # counting on through the probes (frames while they ran)
                                await track.recv()
                                self.frames += 1
                                if self.frames >= args.video_frames:
                                    self.video_done.set()
                        except Exception:  # noqa: BLE001 (the track ends with the call)
                            pass
                    asyncio.ensure_future(count())
            if args.role == "offerer" and args.probe_seconds:
                self.probe_dc = self.pc.createDataChannel("probe", ordered=False, maxRetransmits=0)
                self.probe_sent, self.probe_rtts, self.probe_gaps, self.probe_last_answer = {}, [], [], None
                self.probe_dc.on("message", lambda text: self.probe_answered(text))
            if args.role == "offerer":
                dc = self.pc.createDataChannel("rtcgate-test")
                self.wire_channel(dc)
                opened = sig.loop.create_future()
                dc.on("open", lambda: opened.done() or opened.set_result(True))
                await self.guard(self.pc.setLocalDescription(await self.pc.createOffer()),
                                 "ICE gathering")
                sig.sid = args.sid or uuid.uuid4().hex
                sig.log(f"OFFER to {args.peer}, sid {sig.sid}")
                await self.guard(self.send_session("OFFER", {"sdp": self.pc.localDescription.sdp}),
                                 "the STATUS of the OFFER")
                self.live = True
                await self.guard(self.send_session("CANDIDATES", {"candidates": [], "done": True}),
                                 "the STATUS of CANDIDATES")
                await self.guard(self.got_answer, f"the ANSWER from {args.peer}")
                await self.guard(opened, "the data channel to open")
                self.sent = 1
                dc.send("ping 1")
            else:
                channel = sig.loop.create_future()
                self.pc.on("datachannel", lambda ch: (self.wire_channel(ch),
                                                      channel.done() or channel.set_result(ch)))
                offer = await self.guard(self.got_offer, f"an OFFER from {args.peer}")
                self.live = True
                sig.log(f"OFFER from {args.peer}, sid {sig.sid}")
                await self.guard(self.answer(offer), "sending the ANSWER")
                await self.guard(channel, "the data channel from the offerer")
            await self.guard(self.exchange_done.wait(),
                             f"{args.messages} messages each way on the data channel")
            if args.role == "offerer" and args.video_frames:
                await self.guard(self.video_done.wait(), f"{args.video_frames} decoded video frames")
            probes = await self.run_probes() if args.role == "offerer" and args.probe_seconds else None

            ice, pair = selected_pair(self.pc)
            if pair is None:
                raise PeerError("no nominated ICE candidate pair")
            local_type = pair.local_candidate.type
            remote_types = sorted({c.type for c in ice.getRemoteCandidates()})
            sig.log(f"selected pair {pair.local_candidate.type} {pair.local_addr} -> "
                    f"{pair.remote_candidate.type} {pair.remote_addr}")
            if local_type != "relay" and not args.allow_direct:
                raise PeerError(f"the selected local candidate is {local_type}, not relay")

            if args.role == "offerer":
                await self.guard(self.send_session("END", {"reason": "hangup"}), "the STATUS of END")
                self.ended = True
            else:
                # The offerer hangs up; if its END does not come, hang up ourselves (a 404 "no
                # such session" then means the two ENDs crossed, which is fine).
                try:
                    # (the offerer may be probing --probe-seconds before it hangs up)
                    end = await self.guard(self.end_msg, f"END from {args.peer}", cap=10 + args.probe_seconds)
                except WaitTimeout as e:
                    sig.log(f"{e}; sending END myself")
                    await self.guard(sig.request("END", {"reason": "hangup"}, sid=sig.sid,
                                                 to=args.peer, accept=(200, 404)),
                                     "the STATUS of END")
                    self.ended = True
                else:
                    if end.get("from") != args.peer or (end.get("body") or {}).get("reason") != "hangup":
                        raise PeerError(f"unexpected END: {json.dumps(end)}")
            result = {"ok": True, "role": args.role, "sent": self.sent, "received": self.received,
                      "videoFrames": self.frames, "iceStates": self.ice_states,
                      "localCandidateType": local_type, "remoteCandidateTypes": remote_types,
                      "localCandidate": f"{pair.local_candidate.host}:{pair.local_candidate.port}",
                      "remoteCandidate": f"{pair.remote_candidate.host}:{pair.remote_candidate.port}"}
            if probes:
                result["probe"] = probes
            return result
        finally:
            pump.cancel()

    def probe_answered(self, text):
        sent = self.probe_sent.pop(text, None)
        if sent is not None:
            now = time.monotonic()
            self.probe_rtts.append((now - sent) * 1000)
            if self.probe_last_answer is not None:
                self.probe_gaps.append((now - self.probe_last_answer) * 1000)
            self.probe_last_answer = now

    async def run_probes(self):
        """20 ms pings on the unreliable channel for --probe-seconds; a ping unanswered 1 s after
        the last one was sent is lost. Returns count, lost, loss and RTT median/p95 (ms)."""
        count, interval = int(self.args.probe_seconds / 0.02), 0.02
        pair_before, frames_before = pair_text(self.pc), self.frames
        self.sig.log(f"probing: {count} pings every 20 ms on {pair_before}")  # tests wait for this line
        started = time.monotonic()
        for i in range(count):
            text = f"p{i}"
            self.probe_sent[text] = time.monotonic()
            self.probe_dc.send(text)
            await asyncio.sleep(max(0.0, started + (i + 1) * interval - time.monotonic()))
        await asyncio.sleep(1.0)
        rtts = sorted(self.probe_rtts)
        return {"count": count, "lost": len(self.probe_sent), "loss": round(len(self.probe_sent) / count, 4),
                "pairBefore": pair_before, "pairAfter": pair_text(self.pc), "videoFramesDuring": self.frames - frames_before,
                "longestGapMs": round(max(self.probe_gaps or [0]), 1),
                "rttMedianMs": round(rtts[len(rtts) // 2], 2) if rtts else None,
                "rttP95Ms": round(rtts[min(len(rtts) - 1, int(0.95 * len(rtts)))], 2) if rtts else None}

    async def abort(self):
        """Best-effort END after a failure (bounded), so the peer is not left waiting."""
        if self.sig.sid and self.live and not self.ended:
            reason = "ice-failed" if self.pc is not None and self.pc.connectionState == "failed" else "hangup"
            try:
                mid = f"{self.sig.mid_prefix}-{next(self.sig.mids)}"
                self.sig.publish({"v": 1, "type": "END", "sid": self.sig.sid, "to": self.args.peer,
                                  "mid": mid, "seq": next(self.sig.seqs), "body": {"reason": reason}},
                                 mid)
            except Exception as e:  # noqa: BLE001
                self.sig.log(f"could not send END: {e}")


async def run(args):
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + args.timeout
    sig = Signaling(args, loop, deadline)
    call = None
    try:
        await sig.connect()
        await sig.wait_gateway()
        reply = await sig.request("ICE_CONFIG_REQUEST", {})
        body = reply.get("body")
        if not isinstance(body, dict):
            raise PeerError("ICE_CONFIG without a body")
        report = None
        if args.link_report:  # docs §7.11: measure the relays listed, then report
            report = await loop.run_in_executor(None, link_report, body.get("relays"))
            await sig.request("LINK_REPORT", {"links": report})
            sig.log(f"LINK_REPORT: {json.dumps(report)}")
        if args.path:
            body = (await sig.request("ICE_CONFIG_REQUEST", {"peer": args.peer})).get("body") or {}
            sig.log(f"ICE_CONFIG for the call: path {json.dumps(body.get('path'))}")
        if args.turn_host:
            for entry in body.get("iceServers") or []:
                urls = [entry["urls"]] if isinstance(entry.get("urls"), str) else entry.get("urls") or []
                entry["urls"] = [u.split(":", 1)[0] + ":" + args.turn_host + ":" + u.rsplit(":", 1)[1] for u in urls]
        config, turn_username, policy = ice_configuration(body, args.policy, sig.log)
        sig.log(f"ICE_CONFIG: policy {policy}, ttl {body.get('ttl')}, TURN user {turn_username}")
        call = Call(sig, args)
        result = await call.run(config)
        result["iceConfigUsername"] = turn_username
        if args.path:
            result["path"] = body.get("path")
            result["iceServers"] = [u for entry in body.get("iceServers") or [] for u in
                                    ([entry["urls"]] if isinstance(entry.get("urls"), str) else entry.get("urls") or [])]
        if report is not None:
            result["linkReport"] = report
        return result
    except BaseException:
        if call is not None:
            await call.abort()
        raise
    finally:
        if call is not None and call.pc is not None:
            try:
                await asyncio.wait_for(call.pc.close(), 3)
            except Exception:  # noqa: BLE001
                pass
        await sig.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        # run() bounds every wait by the deadline; the extra seconds are for the clean-up.
        result = asyncio.run(asyncio.wait_for(run(args), args.timeout + 8))
    except (PeerError, Ended) as e:
        result = {"ok": False, "error": str(e)}
    except asyncio.TimeoutError:
        result = {"ok": False, "error": f"overall timeout ({args.timeout} s) exceeded"}
    except KeyboardInterrupt:
        result = {"ok": False, "error": "interrupted"}
    except Exception as e:  # noqa: BLE001
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent TURN client for rtcgate's end-to-end tests.

Uses aioice's TURN client (aioice.turn.create_turn_endpoint, written outside this project):
it does the 401 dance with long-term credentials, allocates a UDP relay, binds a channel per
peer and sends ChannelData. For each transport asked for ("udp", "tcp", "tls" = the client's
connection to the server, TLS checked against a given CA; the relay is UDP in every case):

  1. allocate on the server with the given credentials;
  2. send COUNT datagrams (sequence-numbered) through the relay to a local UDP echo peer on
     127.0.0.1 (run here, in this process);
  3. wait for every echo to come back through the relay;
  4. check the peer saw the datagrams coming from the relayed address, and delete the
     allocation (Refresh, lifetime 0).

Prints one JSON line:
  {"ok": bool, "peer": "127.0.0.1:port", "cases": {transport: {...}}, "errors": [...]}
with, per case: relayed, mapped, sent, received, peer_received, peer_sources, rtt_ms
(min/avg/max), ok, error. Exit status 0 only when every case passed. Every wait is bounded.

Usage: turn_client.py --port PORT --username U --password P [--host 127.0.0.1]
                      [--transports udp,tcp,tls] [--count 20] [--size 100]
                      [--tls-port PORT --ca CA.pem [--tls-name 127.0.0.1]]
"""

import argparse
import asyncio
import json
import ssl
import struct
import sys
import time

from aioice import turn

CASE_TIMEOUT = 8.0


class EchoPeer(asyncio.DatagramProtocol):
    """A UDP peer that sends every datagram back to where it came from."""

    def __init__(self):
        self.transport = None
        self.received = 0
        self.sources = set()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received += 1
        self.sources.add(f"{addr[0]}:{addr[1]}")
        self.transport.sendto(data, addr)


class Receiver(asyncio.DatagramProtocol):
    """The application side of the TURN transport: records echoes by sequence number."""

    def __init__(self):
        self.transport = None
        self.arrivals = {}
        self.errors = []
        self.closed = asyncio.get_running_loop().create_future()
        self.changed = asyncio.Event()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if len(data) >= 4:
            (sequence,) = struct.unpack("!I", data[:4])
            self.arrivals.setdefault(sequence, (time.monotonic(), data, addr))
            self.changed.set()

    def error_received(self, exc):
        self.errors.append(repr(exc))
        self.changed.set()

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(exc)


def text(address):
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def run_case(args, transport_name, peer, peer_address):
    result = {"ok": False, "transport": transport_name}
    peer.received = 0
    peer.sources = set()
    # "tls": TURN over TLS (turns:) on --tls-port, the certificate checked against --ca and
    # the host name the URL would use (--tls-name).
    tls = None
    port = args.port
    if transport_name == "tls":
        tls = ssl.create_default_context(cafile=args.ca)
        port = args.tls_port
    turn_transport, receiver = await asyncio.wait_for(
        turn.create_turn_endpoint(
            Receiver, server_addr=(args.tls_name if tls else args.host, port), username=args.username,
            password=args.password, transport="tcp" if tls else transport_name, ssl=tls),
        timeout=CASE_TIMEOUT)
    try:
        relayed = turn_transport.get_extra_info("sockname")
        mapped = turn_transport.get_extra_info("related_address")
        result["relayed"] = text(relayed)
        result["mapped"] = text(mapped)
        sent_at = {}
        for sequence in range(args.count):
            payload = struct.pack("!I", sequence) + bytes((sequence + i) & 0xFF for i in range(args.size - 4))
            sent_at[sequence] = (time.monotonic(), payload)
            turn_transport.sendto(payload, peer_address)
            # The first send binds the channel; let it finish before piling on more.
            if sequence == 0:
                await wait_for_arrivals(receiver, 1, CASE_TIMEOUT / 2)
        await wait_for_arrivals(receiver, args.count, CASE_TIMEOUT / 2)
        result["sent"] = args.count
        result["received"] = len(receiver.arrivals)
        result["peer_received"] = peer.received
        result["peer_sources"] = sorted(peer.sources)
        rtts = []
        mismatched = 0
        wrong_source = 0
        for sequence, (arrived, data, source) in receiver.arrivals.items():
            if sequence not in sent_at or sent_at[sequence][1] != data:
                mismatched += 1
                continue
            rtts.append((arrived - sent_at[sequence][0]) * 1000)
            if (source[0], source[1]) != peer_address:
                wrong_source += 1
        result["mismatched"] = mismatched
        result["wrong_source"] = wrong_source
        if rtts:
            result["rtt_ms"] = {"min": round(min(rtts), 3), "avg": round(sum(rtts) / len(rtts), 3),
                                "max": round(max(rtts), 3)}
        result["errors"] = receiver.errors
        problems = []
        if result["received"] != args.count:
            problems.append(f"{result['received']} of {args.count} echoes came back")
        if mismatched:
            problems.append(f"{mismatched} echoes differ from what was sent")
        if wrong_source:
            problems.append(f"{wrong_source} echoes not attributed to the peer address")
        if peer.sources != {text(relayed)}:
            problems.append(f"peer saw sources {sorted(peer.sources)}, expected only {text(relayed)}")
        if receiver.errors:
            problems.append(f"send errors {receiver.errors}")
        result["error"] = "; ".join(problems) or None
        result["ok"] = not problems
    finally:
        turn_transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(receiver.closed), timeout=3)
            result["deleted"] = True
        except asyncio.TimeoutError:
            result["deleted"] = False
    return result


async def wait_for_arrivals(receiver, count, timeout):
    deadline = time.monotonic() + timeout
    while len(receiver.arrivals) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        receiver.changed.clear()
        try:
            await asyncio.wait_for(receiver.changed.wait(), timeout=remaining)
        except asyncio.TimeoutError:
            return


async def main_async(args):
    loop = asyncio.get_running_loop()
    peer_transport, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
    peer_address = peer_transport.get_extra_info("sockname")[:2]
    output = {"ok": False, "peer": text(peer_address), "cases": {}, "errors": []}
    try:
        for name in args.transports.split(","):
            try:
                output["cases"][name] = await run_case(args, name, peer, peer_address)
            except Exception as exc:  # noqa: BLE001 - reported in the JSON
                output["cases"][name] = {"ok": False, "transport": name, "error": repr(exc)}
            if not output["cases"][name]["ok"]:
                output["errors"].append(f"{name}: {output['cases'][name].get('error')}")
    finally:
        peer_transport.close()
    output["ok"] = not output["errors"] and bool(output["cases"])
    return output


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--transports", default="udp,tcp", help="udp, tcp and/or tls")
    parser.add_argument("--tls-port", type=int, help="TURN over TLS port (for the tls transport)")
    parser.add_argument("--tls-name", default="127.0.0.1", help="host to connect to and check the certificate against")
    parser.add_argument("--ca", help="PEM CA file trusted for the tls transport")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    args.size = max(args.size, 4)
    try:
        output = asyncio.run(asyncio.wait_for(main_async(args), timeout=30))
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        output = {"ok": False, "cases": {}, "errors": [repr(exc)]}
    print(json.dumps(output, sort_keys=True))
    sys.exit(0 if output["ok"] else 1)


if __name__ == "__main__":
    main()

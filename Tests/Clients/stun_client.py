#!/usr/bin/env python3
"""Independent STUN Binding client for rtcgate's end-to-end tests.

Builds and parses messages with aioice's STUN code (aioice.stun: Message, parse_message,
message_fingerprint), written by people outside this project, and talks to the server with
plain blocking sockets (no asyncio). Cases:

  udp4, udp4_fp, udp6, udp6_fp   Binding over UDP, without / with FINGERPRINT
  tcp4, tcp4_fp, tcp6            Binding over TCP (RFC 8489 framing: 20-byte header, then
                                 `length` bytes)
  rfc3489_udp4                   classic RFC 3489 request (no magic cookie, 128-bit id):
                                 expects MAPPED-ADDRESS and an echoed 16-byte id

Each response must parse with aioice (which checks FINGERPRINT when present), be a Binding
success response with the same transaction id, carry XOR-MAPPED-ADDRESS (MAPPED-ADDRESS for
RFC 3489) equal to the client socket's own address, carry FINGERPRINT exactly when the
request did, and be at most 2.5 times the request's size.

Prints one JSON line: {"ok": bool, "cases": {name: {...}}, "errors": [...]}. Exit status 0
only when every case passed. Every socket operation has a timeout.

Usage: stun_client.py --port PORT [--host4 127.0.0.1] [--host6 ::1] [--cases a,b,...]
"""

import argparse
import json
import os
import socket
import struct
import sys

from aioice import stun

TIMEOUT = 2.0
UDP_TRIES = 3
ALL_CASES = ["udp4", "udp4_fp", "udp6", "udp6_fp", "tcp4", "tcp4_fp", "tcp6", "rfc3489_udp4"]


class Mismatch(Exception):
    pass


def binding_request(fingerprint):
    message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    message.attributes["SOFTWARE"] = "aioice-e2e"
    if fingerprint:
        message.add_fingerprint()
    data = bytes(message)
    # aioice's own FINGERPRINT computation over what it serialised.
    if fingerprint:
        expected = stun.message_fingerprint(data[:-8])
        if struct.unpack("!I", data[-4:])[0] != expected:
            raise Mismatch("aioice produced an inconsistent FINGERPRINT")
    return message, data


def read_exactly(sock, count):
    chunks = b""
    while len(chunks) < count:
        chunk = sock.recv(count - len(chunks))
        if not chunk:
            raise Mismatch(f"connection closed after {len(chunks)} of {count} bytes")
        chunks += chunk
    return chunks


def udp_exchange(family, host, port, data):
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((host, 0))
        own = sock.getsockname()[:2]
        for _ in range(UDP_TRIES):
            sock.sendto(data, (host, port))
            try:
                reply, source = sock.recvfrom(4096)
            except socket.timeout:
                continue
            if source[1] != port:
                raise Mismatch(f"reply from unexpected source {source}")
            return own, reply
        raise Mismatch(f"no UDP reply after {UDP_TRIES} tries of {TIMEOUT}s")


def tcp_exchange(family, host, port, data):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect((host, port))
        own = sock.getsockname()[:2]
        sock.sendall(data)
        header = read_exactly(sock, stun.HEADER_LENGTH)
        length = struct.unpack("!H", header[2:4])[0]
        return own, header + read_exactly(sock, length)


def check_common(name, request_data, reply):
    if len(reply) > 2.5 * len(request_data):
        raise Mismatch(f"{name}: reply of {len(reply)} bytes exceeds 2.5x the {len(request_data)}-byte request")
    try:
        parsed = stun.parse_message(reply)
    except ValueError as error:
        raise Mismatch(f"{name}: aioice cannot parse the reply: {error}")
    if parsed.message_method != stun.Method.BINDING or parsed.message_class != stun.Class.RESPONSE:
        raise Mismatch(f"{name}: not a Binding success response: {parsed!r}")
    return parsed


def run_modern(name, transport, family, host, port, fingerprint):
    request, data = binding_request(fingerprint)
    exchange = udp_exchange if transport == "udp" else tcp_exchange
    own, reply = exchange(family, host, port, data)
    parsed = check_common(name, data, reply)
    if parsed.transaction_id != request.transaction_id:
        raise Mismatch(f"{name}: transaction id {parsed.transaction_id.hex()} != {request.transaction_id.hex()}")
    if struct.unpack("!I", reply[4:8])[0] != stun.COOKIE:
        raise Mismatch(f"{name}: reply lacks the magic cookie")
    mapped = parsed.attributes.get("XOR-MAPPED-ADDRESS")
    if mapped is None:
        raise Mismatch(f"{name}: no XOR-MAPPED-ADDRESS in {parsed!r}")
    if tuple(mapped) != tuple(own):
        raise Mismatch(f"{name}: XOR-MAPPED-ADDRESS {mapped} != client address {own}")
    has_fp = "FINGERPRINT" in parsed.attributes
    if has_fp != fingerprint:
        raise Mismatch(f"{name}: FINGERPRINT present={has_fp}, requested={fingerprint}")
    if has_fp and parsed.attributes["FINGERPRINT"] != stun.message_fingerprint(reply[:-8]):
        raise Mismatch(f"{name}: FINGERPRINT value wrong")
    return {
        "ok": True,
        "mapped": f"{mapped[0]}:{mapped[1]}" if family == socket.AF_INET else f"[{mapped[0]}]:{mapped[1]}",
        "client": f"{own[0]}:{own[1]}" if family == socket.AF_INET else f"[{own[0]}]:{own[1]}",
        "fingerprint": has_fp,
        "software": parsed.attributes.get("SOFTWARE"),
        "request_size": len(data),
        "reply_size": len(reply),
    }


def run_rfc3489(name, host, port):
    # RFC 3489: 16-byte transaction id in place of cookie + id; aioice always writes the
    # cookie, so the header is packed by hand (there are no attributes).
    while True:
        transaction = os.urandom(16)
        if struct.unpack("!I", transaction[:4])[0] != stun.COOKIE:
            break
    data = struct.pack("!HH", 0x0001, 0) + transaction
    own, reply = udp_exchange(socket.AF_INET, host, port, data)
    parsed = check_common(name, data, reply)
    if reply[4:20] != transaction:
        raise Mismatch(f"{name}: 128-bit transaction id not echoed")
    mapped = parsed.attributes.get("MAPPED-ADDRESS")
    if mapped is None:
        raise Mismatch(f"{name}: no MAPPED-ADDRESS in {parsed!r}")
    if tuple(mapped) != tuple(own):
        raise Mismatch(f"{name}: MAPPED-ADDRESS {mapped} != client address {own}")
    if "XOR-MAPPED-ADDRESS" in parsed.attributes or "FINGERPRINT" in parsed.attributes:
        raise Mismatch(f"{name}: RFC 3489 reply carries RFC 5389-only attributes: {parsed!r}")
    return {"ok": True, "mapped": f"{mapped[0]}:{mapped[1]}", "client": f"{own[0]}:{own[1]}",
            "fingerprint": False, "request_size": len(data), "reply_size": len(reply)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host4", default="127.0.0.1")
    parser.add_argument("--host6", default="::1")
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    args = parser.parse_args()

    runners = {
        "udp4": lambda: run_modern("udp4", "udp", socket.AF_INET, args.host4, args.port, False),
        "udp4_fp": lambda: run_modern("udp4_fp", "udp", socket.AF_INET, args.host4, args.port, True),
        "udp6": lambda: run_modern("udp6", "udp", socket.AF_INET6, args.host6, args.port, False),
        "udp6_fp": lambda: run_modern("udp6_fp", "udp", socket.AF_INET6, args.host6, args.port, True),
        "tcp4": lambda: run_modern("tcp4", "tcp", socket.AF_INET, args.host4, args.port, False),
        "tcp4_fp": lambda: run_modern("tcp4_fp", "tcp", socket.AF_INET, args.host4, args.port, True),
        "tcp6": lambda: run_modern("tcp6", "tcp", socket.AF_INET6, args.host6, args.port, False),
        "rfc3489_udp4": lambda: run_rfc3489("rfc3489_udp4", args.host4, args.port),
    }
    results, errors = {}, []
    for name in [c for c in args.cases.split(",") if c]:
        if name not in runners:
            errors.append(f"unknown case {name}")
            continue
        try:
            results[name] = runners[name]()
        except (Mismatch, OSError) as error:
            results[name] = {"ok": False, "error": str(error)}
            errors.append(f"{name}: {error}")
    ok = not errors and all(r["ok"] for r in results.values())
    print(json.dumps({"ok": ok, "cases": results, "errors": errors}, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

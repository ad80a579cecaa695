"""What a client measures of the relays rtcgate lists in ICE_CONFIG (`relays`, docs/paths.md):
STUN Binding round trips to each relay's `stun:` URL, as LINK_REPORT entries. Bounded: `count`
probes per relay, `spacing` s apart, each waiting at most `timeout` s."""

import os
import socket
import statistics
import struct
import time


def probe(host, port, count=10, spacing=0.03, timeout=0.5):
    """(rtt_ms median, loss, jitter_ms) of `count` Binding requests to host:port over UDP."""
    rtts = []
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(count):
            tid = os.urandom(12)
            started = time.monotonic()
            s.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid, (host, port))
            deadline = started + timeout
            while time.monotonic() < deadline:
                try:
                    s.settimeout(max(0.001, deadline - time.monotonic()))
                    data, _ = s.recvfrom(2048)
                except (socket.timeout, OSError):
                    break
                if len(data) >= 20 and data[8:20] == tid and data[0:2] == b"\x01\x01":
                    rtts.append((time.monotonic() - started) * 1000)
                    break
            time.sleep(max(0.0, spacing - (time.monotonic() - started)))
    if not rtts:
        return None, 1.0, 0.0
    jitter = statistics.mean(abs(a - b) for a, b in zip(rtts, rtts[1:])) if len(rtts) > 1 else 0.0
    return statistics.median(rtts), 1 - len(rtts) / count, jitter


def link_report(relays, count=10):
    """LINK_REPORT body entries for each relay's first stun: URL (unreachable relays: loss 1)."""
    links = []
    for relay in relays or []:
        url = next((u for u in relay.get("urls", []) if u.startswith("stun:")), None)
        if not url:
            continue
        hostport = url[5:].split("?")[0]
        host, _, port = hostport.rpartition(":")
        rtt, loss, jitter = probe(host.strip("[]"), int(port), count=count)
        links.append({"url": url, "rttMs": round(rtt if rtt is not None else 0, 3), "loss": round(loss, 4),
                      "jitterMs": round(jitter, 3)})
    return links

#!/usr/bin/env python3
"""A userspace netem (this kernel has none): IP packets routed into a TUN device are written back
into it after a delay, or dropped, so whatever the routing table sends through the device crosses
an impaired link. Meant for a router namespace whose policy rules send chosen traffic into the
TUN device (packets written back come in on it and are routed on normally; rp_filter must be off).

The impairment is read from --control FILE (one line: "DELAY_MS LOSS [JITTER_MS]", e.g. "40 0.15 5")
every 0.2 s, so a test can change or lift it live; a missing or unreadable file means none.
Bounded by --duration; prints one JSON line at exit: packets forwarded, dropped, and the
impairment last in force.

Usage: netem_tun.py --dev tunX --control FILE [--duration 300] [--seed N]
(root, in the namespace whose routes use the device; it is created here and goes away on exit)
"""

import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import subprocess
import time

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def read_control(path, current):
    try:
        with open(path) as f:
            fields = f.read().split()
        delay, loss = float(fields[0]), float(fields[1])
        jitter = float(fields[2]) if len(fields) > 2 else 0.0
        return (max(0.0, delay), min(1.0, max(0.0, loss)), max(0.0, jitter))
    except (OSError, ValueError, IndexError):
        return current if os.path.exists(path) else (0.0, 0.0, 0.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dev", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--duration", type=float, default=300)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rng = random.Random(args.seed)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", args.dev.encode(), IFF_TUN | IFF_NO_PI))
    subprocess.run(["ip", "link", "set", args.dev, "up"], check=True)
    subprocess.run(["sysctl", "-qw", f"net.ipv4.conf.{args.dev}.rp_filter=0"], check=False)
    os.set_blocking(fd, False)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(json.dumps({"ready": True, "dev": args.dev}), flush=True)
    impairment, checked = (0.0, 0.0, 0.0), 0.0
    queue, sequence = [], 0
    forwarded = dropped = 0
    end = time.monotonic() + args.duration
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        if now - checked > 0.2:
            impairment, checked = read_control(args.control, impairment), now
        timeout = 0.2 if not queue else max(0.0, min(0.2, queue[0][0] - now))
        readable, _, _ = select.select([fd], [], [], timeout)
        if readable:
            for _ in range(256):
                try:
                    packet = os.read(fd, 65_536)
                except BlockingIOError:
                    break
                delay, loss, jitter = impairment
                if loss and rng.random() < loss:
                    dropped += 1
                    continue
                due = time.monotonic() + (delay + (rng.uniform(-jitter, jitter) if jitter else 0.0)) / 1000
                sequence += 1
                heapq.heappush(queue, (due, sequence, packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, packet = heapq.heappop(queue)
            try:
                os.write(fd, packet)
                forwarded += 1
            except OSError:
                dropped += 1
    os.close(fd)
    print(json.dumps({"forwarded": forwarded, "dropped": dropped, "impairment": impairment}), flush=True)


if __name__ == "__main__":
    main()

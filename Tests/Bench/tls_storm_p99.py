#!/usr/bin/env python3
"""UDP relay latency during a TLS handshake storm: do the handshake budgets protect relaying?

One rtcgate (release build, one worker, TLS on a throwaway certificate) relays 4 UDP allocations
(`rtcgate-bench turn`, ChannelData, window 16) for --duration s, three ways, per run:

    quiet      no other load
    storm      at the same time, `rtcgate-bench tls-handshakes --connections 16` hammers the TLS
               port with full handshakes (connect, handshake, close, at once again), with the
               gateway's default budgets (tls-handshake-rate 200/s, 20/s per source)
    unbounded  the same storm against a gateway whose budgets are lifted (what they prevent)

and prints medians over --runs of the relay's round trips/s, p50 and p99 latency, and the
handshakes the storm got through. Only 127.0.0.1 traffic; every wait is bounded.

    swift build -c release --product rtcgate --product rtcgate-bench
    python3 Tests/Bench/tls_storm_p99.py --runs 3 --duration 6
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stun_vs_coturn import log, probe, stop  # noqa: E402
from turn_tls_vs_coturn import REALM, USER, PASSWORD, accepts, bench, make_certificate, ports  # noqa: E402

RTCGATE = ("{rtcgate} run --board board/dev/profile.conf --listening-ip 127.0.0.1 --listening-port {port} "
           f"--stats-interval 0 --user {USER}:{PASSWORD} --realm {REALM} --allowed-peer-ip 127.0.0.1 "
           "--min-port 46000 --max-port 46999 --workers 1 --control-socket '' --state-dir '' "
           "--tls-listening-port {tls_port} --cert {cert} --pkey {pkey}")
UNBOUNDED = " --tls-handshake-rate 0 --tls-handshake-rate-per-source 100000"


def one(args, mode):
    """One server, one relay measurement (with a storm unless quiet); returns figures."""
    port, tls_port = ports("127.0.0.1")
    argv = shlex.split(RTCGATE.format(rtcgate=args.rtcgate, port=port, tls_port=tls_port, cert=args.cert, pkey=args.pkey)
                       + (UNBOUNDED if mode == "unbounded" else ""))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        if not probe("127.0.0.1", port, deadline) or not accepts("127.0.0.1", tls_port, deadline):
            raise RuntimeError(f"rtcgate did not start ({mode})")
        storm = {}
        thread = None
        if mode != "quiet":
            def hammer():
                storm["figures"], storm["error"] = bench(args, ["tls-handshakes", "--server", f"127.0.0.1:{tls_port}",
                                                               "--connections", "16", "--no-confirm", "--warmup", "0",
                                                               "--duration", str(args.duration + 2)], args.duration + 30)
            thread = threading.Thread(target=hammer)
            thread.start()
            time.sleep(1)
        figures, error = bench(args, ["turn", "--server", f"127.0.0.1:{port}", "--user", USER, "--password", PASSWORD,
                                      "--realm", REALM, "--allocations", "4", "--window", "16", "--warmup", "1",
                                      "--duration", str(args.duration), "--server-pid", str(proc.pid)], args.duration + 30)
        if thread:
            thread.join(args.duration + 40)
        if error:
            raise RuntimeError(f"relay ({mode}): {error}")
        handshakes = (storm.get("figures") or {}).get("handshakes_per_s", 0.0)
        return {"rt_per_s": figures.get("rtps"), "p50_us": figures.get("p50_us"),
                "p99_us": figures.get("p99_us"), "storm_handshakes_per_s": handshakes}
    finally:
        stop(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--rtcgate", default=".build/release/rtcgate")
    parser.add_argument("--bench", default=".build/release/rtcgate-bench")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    args.pin = False
    workdir = tempfile.mkdtemp(prefix="rtcgate-storm-")
    _, args.cert, args.pkey = make_certificate(workdir)
    modes = ["quiet", "storm", "unbounded"]
    results = {m: [] for m in modes}
    for run in range(args.runs):
        for mode in modes:
            figures = one(args, mode)
            results[mode].append(figures)
            log(f"run {run + 1} {mode:9} {figures}")
    lines = ["| UDP relay, 4 allocations | round trips/s | p50 µs | p99 µs | storm handshakes/s |", "|---|---:|---:|---:|---:|"]
    for mode, label in zip(modes, ["quiet", "during a storm, default budgets", "during a storm, budgets lifted"]):
        def med(key):
            values = [r[key] for r in results[mode] if r[key] is not None]
            return statistics.median(values) if values else float("nan")
        lines.append(f"| {label} | {med('rt_per_s'):,.0f} | {med('p50_us'):,.0f} | {med('p99_us'):,.0f} | "
                     f"{med('storm_handshakes_per_s'):,.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

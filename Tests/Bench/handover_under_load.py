#!/usr/bin/env python3
"""Handovers under TURN load: how long the relay stops, and what is lost (issue #16).

One release rtcgate on loopback relays `rtcgate-bench turn` (ChannelData, --allocations
allocations, --window payloads in flight each, GSO generator) for the whole run; after the
warm-up, `rtcgate ctl upgrade` replaces the running binary --handovers times, --gap seconds
apart. Each handover is timed by rtcgate itself: from the moment the old process's workers
stopped reading (monotonic clock, shared by both processes) to the moment the new process's
workers read the same sockets (`ctl status` → handover.pausedToServingMicros). A control run
of the same length without handovers comes first, so the rate with handovers is compared with
the rate without, in the same invocation.

What is counted as lost: the generator's messages unanswered within --timeout-ms (the
ground truth, every round trip goes client → relay → echo peer → relay → client), plus the
datagrams the kernel dropped for a full socket buffer in rtcgate (udp_kernel_drops_total, which
the handover carries from process to process). The allocations are made once, before the first
handover: if a handover lost one, every message of it would be lost.

Python 3 standard library only. Only 127.0.0.1 traffic; every wait is bounded. Exit status is
non-zero when a handover failed, a process died, or nothing was relayed.

Run from the repository root after
`swift build -c release --product rtcgate && swift build -c release --product rtcgate-bench`:
    python3 Tests/Bench/handover_under_load.py
    python3 Tests/Bench/handover_under_load.py --runs 3 --handovers 20 --markdown handover.md
    python3 Tests/Bench/handover_under_load.py --rate 100000 --window 2048   # open loop, 100k/s offered

Closed loop (the default) stops sending while the relay is paused, so at most --window messages
per allocation wait in the sockets. With --rate the generator keeps offering that many round trips
per second through the pause, as media does: what queues during the pause is rate × pause.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stun_vs_coturn import free_port, log, probe, stop  # noqa: E402

USER, PASSWORD, REALM = "alice", "secret", "example.org"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else None


def alive(pid):
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def ctl(args, socket_path, *command, timeout=30):
    done = subprocess.run([args.rtcgate, "ctl", "--socket", socket_path, "--json", *command],
                          capture_output=True, text=True, timeout=timeout)
    try:
        value = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        value = None
    return done.returncode, value, done.stderr.strip()


def start_gateway(args, workdir, port):
    log_file = open(os.path.join(workdir, "rtcgate.log"), "ab")
    cmd = [args.rtcgate, "run", "--board", "board/dev/profile.conf", "--listening-ip", "127.0.0.1",
           "--listening-port", str(port), "--stun-rate-limit", "0", "--stats-interval", "0",
           "--user", f"{USER}:{PASSWORD}", "--realm", REALM, "--allowed-peer-ip", "127.0.0.1",
           "--min-port", "12000", "--max-port", "12999", "--max-allocations", "1024",
           "--control-socket", os.path.join(workdir, "control.sock"), "--state-dir", os.path.join(workdir, "state")]
    cmd += args.rtcgate_flag
    # Its own session: the successors it starts outlive it, and are stopped by pid at the end.
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=log_file, start_new_session=True)
    if not probe("127.0.0.1", port, time.monotonic() + 10):
        stop(proc)
        raise RuntimeError("rtcgate did not answer STUN within 10 s")
    return proc


def one_run(args, index, handovers):
    """One bench run with `handovers` upgrades; returns its figures."""
    workdir = tempfile.mkdtemp(prefix="rtcgate-handover-bench-")
    socket_path = os.path.join(workdir, "control.sock")
    port = free_port("127.0.0.1")
    gateway = start_gateway(args, workdir, port)
    pids = {gateway.pid}
    duration = max(args.min_duration, handovers * args.gap + 3)
    bench = subprocess.Popen(
        [args.bench, "turn", "--server", f"127.0.0.1:{port}", "--json", "--user", USER, "--password", PASSWORD,
         "--realm", REALM, "--mode", "channel", "--allocations", str(args.allocations), "--window", str(args.window),
         "--payload", str(args.payload), "--duration", str(duration), "--warmup", "2", "--timeout-ms", str(args.timeout_ms),
         "--generator-gso"] + (["--rate", str(args.rate)] if args.rate else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    times, failures = [], []
    try:
        time.sleep(2.5)  # the warm-up, and the allocations made
        for n in range(handovers):
            code, status, err = ctl(args, socket_path, "upgrade", "--wait", "20")
            micros = ((status or {}).get("handover") or {}).get("pausedToServingMicros")
            if code != 0 or micros is None:
                failures.append(f"handover {n + 1}: exit {code}: {err}")
            else:
                times.append(micros)
                pids.add(status["pid"])
            time.sleep(args.gap)
        out, err = bench.communicate(timeout=duration + 60)
    finally:
        if bench.poll() is None:
            bench.kill()
    figures = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    code, stats, _ = ctl(args, socket_path, "stats")
    code_status, status, _ = ctl(args, socket_path, "status")
    final_pid = (status or {}).get("pid")
    gateway.poll()  # reaps the first process (our child) if it has exited
    for pid in pids:
        if pid != final_pid and alive(pid):
            failures.append(f"pid {pid} still alive after handing over")
    if final_pid:
        os.kill(final_pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(final_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    stop(gateway)
    result = {
        "run": index, "handovers": handovers, "ok": len(times), "failures": failures,
        "rtps": figures.get("rtps"), "lost": figures.get("lost"), "late": figures.get("late"),
        "invalid": (figures.get("invalid") or {}).get("total"), "sent": figures.get("sent"),
        "rate_skips": figures.get("rate_skips"),
        "kernel_drops": (stats or {}).get("udp_kernel_drops_total"),
        "handover_us": times, "allocations_ok": figures.get("allocations_ok"),
        "bench_error": None if figures else err.strip()[:400],
    }
    log(f"run {index} ({handovers} handovers): {result['rtps']} rt/s, lost {result['lost']}, kernel drops "
        f"{result['kernel_drops']}, handover µs median {percentile(times, 0.5)} max {max(times) if times else None}"
        + (f", FAILURES {failures}" if failures else ""))
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rtcgate", default=".build/release/rtcgate")
    p.add_argument("--bench", default=".build/release/rtcgate-bench")
    p.add_argument("--runs", type=int, default=1, help="runs of each kind (control, with handovers)")
    p.add_argument("--handovers", type=int, default=20)
    p.add_argument("--gap", type=float, default=1.0, help="seconds between handovers")
    p.add_argument("--min-duration", type=float, default=10.0)
    p.add_argument("--allocations", type=int, default=4)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--payload", type=int, default=200)
    p.add_argument("--timeout-ms", type=int, default=1000)
    p.add_argument("--rate", type=int, default=0,
                   help="open loop: this many round trips/s offered whatever the replies do (then --window bounds those in flight; try 2048)")
    p.add_argument("--rtcgate-flag", action="append", default=[], metavar="FLAG",
                   help="extra argument for rtcgate run (repeatable), e.g. --rtcgate-flag=--relay-socket-buffer-bytes=262144")
    p.add_argument("--out", help="write every figure as JSON here")
    p.add_argument("--markdown", help="write the summary table here")
    args = p.parse_args()

    control, upgraded = [], []
    for i in range(args.runs):
        control.append(one_run(args, i + 1, 0))
        upgraded.append(one_run(args, i + 1, args.handovers))
    times = [t for run in upgraded for t in run["handover_us"]]
    def med(runs, key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None
    summary = {
        "handovers": sum(r["handovers"] for r in upgraded), "handovers_ok": len(times),
        "handover_us_median": percentile(times, 0.5), "handover_us_p99": percentile(times, 0.99),
        "handover_us_max": max(times) if times else None,
        "rtps_without": med(control, "rtps"), "rtps_with": med(upgraded, "rtps"),
        "lost_with": sum(r["lost"] or 0 for r in upgraded), "late_with": sum(r["late"] or 0 for r in upgraded),
        "kernel_drops_with": sum(r["kernel_drops"] or 0 for r in upgraded),
        "lost_without": sum(r["lost"] or 0 for r in control),
        "sent_with": sum(r["sent"] or 0 for r in upgraded),
        "rate_skips_with": sum(r["rate_skips"] or 0 for r in upgraded),
    }
    load = f"open loop, {args.rate:,} round trips/s offered" if args.rate else f"closed loop, window {args.window}"
    print(f"load: {args.allocations} allocations, {load}")
    table = "\n".join(line for line in [
        "| | without handovers | with handovers |",
        "|---|---:|---:|",
        f"| round trips/s (median of {args.runs}) | {summary['rtps_without']:,.0f} | {summary['rtps_with']:,.0f} |"
        if summary["rtps_without"] and summary["rtps_with"] else "| round trips/s | - | - |",
        f"| messages lost (unanswered in {args.timeout_ms} ms) | {summary['lost_without']} | {summary['lost_with']} |",
        f"| messages not sent: every slot in flight (open loop) | - | {summary['rate_skips_with']} |" if args.rate else "",
        f"| datagrams dropped by rtcgate's kernel buffers | - | {summary['kernel_drops_with']} |",
        f"| handovers that succeeded | - | {summary['handovers_ok']} / {summary['handovers']} |",
        f"| old stops reading → new serving, median | - | {summary['handover_us_median']} µs |",
        f"| p99 | - | {summary['handover_us_p99']} µs |",
        f"| max | - | {summary['handover_us_max']} µs |",
    ] if line)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "control": control, "upgraded": upgraded}, f, indent=1)
    bad = any(r["failures"] or not r["rtps"] for r in control + upgraded)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

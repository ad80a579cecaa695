#!/usr/bin/env python3
"""Datagram loss under bursts with each board profile's DEFAULT settings, side by side with coturn.

Two load generators, each at 32 allocations:
  * rtcgate-bench turn --mode channel --allocations 32 --window 16 (512 ChannelData in flight,
    sent one datagram per sendmmsg entry: the plain generator, the burstier one);
  * coturn's turnutils_uclient -m 32 (nobody here wrote it): 32 clients, channels, messages of
    172 bytes every --interval-ms ms each, echoed by turnutils_peer.

For every board profile (board/*/profile.conf, listeners moved to 127.0.0.1, TURN with one
user and no per-user quota; nothing else overridden: socket buffers, pool and workers are the
profile's) and for coturn 4.6 (its defaults), each generator runs --runs times; the table gives
the median datagrams lost and rtcgate's udp_kernel_drops counter.

Usage: python3 Tests/Bench/turn_burst_loss.py [--runs 3] [--duration 8] [--boards dev,rpi4,a53-256m]
Needs release builds (swift build -c release) and coturn (turnserver, turnutils_*).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stun_vs_coturn import free_port, log, probe, stop  # noqa: E402

USER, PASSWORD, REALM = "alice", "secret", "example.org"
IP = "127.0.0.1"


def rtcgate_cmd(board, port, ports, workdir):
    return [".build/release/rtcgate", "run", "--board", f"board/{board}/profile.conf", "--listening-ip", IP,
            "--listening-port", str(port), "--user", f"{USER}:{PASSWORD}", "--realm", REALM,
            "--allowed-peer-ip", IP, "--min-port", str(ports[0]), "--max-port", str(ports[1]), "--user-quota", "0",
            "--stats-interval", "0", "--stun-rate-limit", "0", "--control-socket", f"{workdir}/ctl-{port}.sock",
            "--state-dir", ""]


def coturn_cmd(port, ports, workdir):
    return ["turnserver", "-n", f"--listening-ip={IP}", f"--listening-port={port}", f"--relay-ip={IP}",
            f"--min-port={ports[0]}", f"--max-port={ports[1]}", f"--user={USER}:{PASSWORD}", f"--realm={REALM}",
            "--lt-cred-mech", "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-tcp", "--no-tcp-relay", "--no-cli",
            "--log-file=stdout", "--simple-log", f"--pidfile={workdir}/coturn-{port}.pid"]


def bench_load(args, port, pid):
    out = subprocess.run([".build/release/rtcgate-bench", "turn", "--server", f"{IP}:{port}", "--json", "--server-pid", str(pid),
                          "--user", USER, "--password", PASSWORD, "--realm", REALM, "--mode", "channel",
                          "--allocations", "32", "--window", "16", "--payload", "172", "--duration", str(args.duration),
                          "--warmup", "1", "--timeout-ms", "1000"],
                         capture_output=True, text=True, timeout=args.duration + 60)
    try:
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        return figures.get("lost"), round(figures.get("rtps", 0))
    except (ValueError, IndexError):
        log(f"rtcgate-bench failed: {out.stdout[-500:]} {out.stderr[-500:]}")
        return None, None


def uclient_load(args, port):
    peer_port = free_port(IP)
    peer = subprocess.Popen(["turnutils_peer", "-p", str(peer_port), "-L", IP], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        messages = int(args.duration * 1000 / args.interval_ms)
        out = subprocess.run(["turnutils_uclient", "-c", "-u", USER, "-w", PASSWORD, "-e", IP, "-r", str(peer_port),
                              "-p", str(port), "-m", "32", "-n", str(messages), "-l", "172", "-z", str(args.interval_ms), IP],
                             capture_output=True, text=True, timeout=args.duration * 4 + 60)
        text = out.stdout + out.stderr
        lost = re.findall(r"Total lost packets (\d+)", text)
        sent = re.findall(r"tot_send_msgs=(\d+)", text)
        if not lost:
            log(f"uclient: no loss figure: {text[-800:]}")
            return None, None
        return int(lost[-1]), int(sent[-1]) if sent else None
    finally:
        stop(peer)


def kernel_drops(log_path):
    with open(log_path, errors="replace") as f:
        found = re.findall(r"udp_kernel_drops=(\d+)", f.read())
    return int(found[-1]) if found else None


def run_server(args, name, board, generator, workdir, slot):
    port = free_port(IP)
    ports = (10000 + 2000 * slot, 10000 + 2000 * slot + 1999)
    cmd = coturn_cmd(port, ports, workdir) if name == "coturn" else rtcgate_cmd(board, port, ports, workdir)
    log_path = f"{workdir}/{name}-{board}-{generator}-{port}.log"
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    try:
        if not probe(IP, port, time.monotonic() + 15):
            log(f"{name} did not answer; log {log_path}")
            return None
        time.sleep(0.3)
        if generator == "rtcgate-bench":
            lost, rate = bench_load(args, port, proc.pid)
        else:
            lost, rate = uclient_load(args, port)
    finally:
        stop(proc)
    drops = kernel_drops(log_path) if name == "rtcgate" else None
    return {"lost": lost, "rate": rate, "kernel_drops": drops}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--interval-ms", type=int, default=1, help="turnutils_uclient -z (ms between a client's messages)")
    ap.add_argument("--boards", default="dev,rpi4,a53-256m")
    ap.add_argument("--generators", default="rtcgate-bench,turnutils_uclient")
    args = ap.parse_args()

    rows = []
    slot = 0
    with tempfile.TemporaryDirectory(prefix="rtcgate-burst-") as workdir:
        for generator in args.generators.split(","):
            servers = [("rtcgate", b) for b in args.boards.split(",")] + [("coturn", "-")]
            for name, board in servers:
                results = []
                for run in range(args.runs):
                    result = run_server(args, name, board, generator, workdir, slot % 10)
                    slot += 1
                    log(f"{generator} {name} {board} run {run + 1}: {result}")
                    if result and result["lost"] is not None:
                        results.append(result)
                if not results:
                    rows.append((generator, name, board, None, None, None, 0))
                    continue
                lost = statistics.median(r["lost"] for r in results)
                drops = [r["kernel_drops"] for r in results if r["kernel_drops"] is not None]
                rates = [r["rate"] for r in results if r["rate"] is not None]
                rows.append((generator, name, board, lost, statistics.median(drops) if drops else None,
                             statistics.median(rates) if rates else None, len(results)))
    print(f"\n| generator | server | board (defaults) | lost, median of {args.runs} | udp_kernel_drops | rate |")
    print("|---|---|---|---|---|---|")
    for generator, name, board, lost, drops, rate, n in rows:
        rate_text = "-" if rate is None else (f"{rate:,.0f} rt/s" if generator == "rtcgate-bench" else f"{rate:,.0f} sent")
        print(f"| {generator} | {name} | {board} | {'-' if lost is None else f'{lost:g}'} | "
              f"{'-' if drops is None else f'{drops:g}'} | {rate_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

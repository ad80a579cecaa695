#!/usr/bin/env python3
"""Benchmark rtcgate's TURN relay side by side with coturn on loopback.

Both servers run in the same invocation, alternating run by run in ABBA order
(rtcgate coturn, coturn rtcgate, ...) so that machine drift and order effects hit
both. Each server run: start the server on a fresh port with its own relay port
range (ranges never overlap, and stay below the kernel's ephemeral range), wait
until it answers a STUN Binding (bounded), record its idle RSS, then drive it
with `rtcgate-bench turn --json --server-pid PID`:

    hold-1000    1000 allocations held for --hold-duration s (RSS with 1000 allocations)
    channel-1    1 allocation,  ChannelData, window --window, --payload bytes
    channel-4    4 allocations, ChannelData
    channel-32   32 allocations, ChannelData
    send-4       4 allocations, Send/Data indications

The generator and its echo peer send their runs with UDP GSO (`--generator-gso`)
unless --plain-generator: on two shared cores the plain generator saturates its
core before rtcgate does, and the comparison then measures the generator. Either
way each server receives ordinary single datagrams.

The hold scenario runs first, on the fresh server, so its RSS is not inflated by
the load scenarios. Every scenario deletes its allocations at the end. Medians
over --runs are printed with the ratios rtcgate/coturn, and optionally written as
JSON (--out) and Markdown (--markdown).

Python 3 standard library only (helpers shared with stun_vs_coturn.py). Only
127.0.0.1 traffic. Every wait is bounded. Exit status is non-zero if any
scenario of any run failed (set-up error, invalid reply, nothing relayed, a
server that died, or fewer than 1000 allocations held).

Run from the rtcgate repository root, after
`swift build -c release --product rtcgate --product rtcgate-bench`, e.g.:
    python3 Tests/Bench/turn_vs_coturn.py --markdown turn-bench.md --out turn-bench.json
    python3 Tests/Bench/turn_vs_coturn.py --runs 1 --duration 3 --only rtcgate
"""

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stun_vs_coturn import free_port, fmt, log, pin, probe, proc_status, ratio, stop  # noqa: E402

USER, PASSWORD, REALM = "alice", "secret", "example.org"
DEFAULT_RTCGATE_CMD = (".build/release/rtcgate run --board board/dev/profile.conf "
                       "--listening-ip {ip} --listening-port {port} --stun-rate-limit 0 --stats-interval 0 "
                       f"--user {USER}:{PASSWORD} --realm {REALM} --allowed-peer-ip {{ip}} "
                       "--min-port {min_port} --max-port {max_port} --max-allocations 1024 --pool-prefault")
# coturn 4.6.1: long-term credentials, loopback peers allowed, UDP relay only, no
# TLS/DTLS/TCP listeners, no CLI, no quotas (the defaults), default relay threads
# (one per CPU), log to stdout (redirected to a file), no config file (-n).
DEFAULT_COTURN_CMD = ("turnserver -n --listening-ip={ip} --listening-port={port} --relay-ip={ip} "
                      "--min-port={min_port} --max-port={max_port} "
                      f"--user={USER}:{PASSWORD} --realm={REALM} --lt-cred-mech --allow-loopback-peers "
                      "--no-tls --no-dtls --no-tcp --no-tcp-relay --no-cli --log-file=stdout --simple-log "
                      "--pidfile={workdir}/coturn-{port}.pid")

HOLD = "hold-1000"
# name -> (mode, allocations)
SCENARIOS = {
    HOLD: ("hold", 1000),
    "channel-1": ("channel", 1),
    "channel-4": ("channel", 4),
    "channel-32": ("channel", 32),
    "send-4": ("send", 4),
}
LOAD_METRICS = [
    ("rtps", "round trips/s"),
    ("mbps", "Mbit/s each way"),
    ("p50_us", "p50 µs"),
    ("p99_us", "p99 µs"),
    ("p999_us", "p99.9 µs"),
    ("server_cpu_cores", "server CPU cores"),
    ("server_cpu_us_per_rt", "CPU µs/round trip"),
    ("gen_cpu_cores", "generator cores"),
    ("lost", "lost"),
]
HOLD_METRICS = [
    ("allocations_ok", "allocations held"),
    ("setup_ms", "set-up ms"),
    ("server_rss_kb_end", "RSS with 1000 allocations KiB"),
    ("server_anon_kb_end", "anonymous RSS with 1000 allocations KiB"),
    ("rss_delta_kb", "RSS growth KiB"),
    ("server_rss_kb_after_delete", "RSS after delete KiB"),
]
INTEGRAL = {"lost", "allocations_ok", "server_rss_kb_end", "server_anon_kb_end", "rss_delta_kb", "server_rss_kb_after_delete", "rss_idle_kb"}

# Relay port ranges: RELAY_SLOTS disjoint blocks of RELAY_SPAN ports from RELAY_BASE, below
# the usual ephemeral range (32768-60999) so that client sockets never sit on a relay port.
RELAY_BASE, RELAY_SPAN, RELAY_SLOTS = 10000, 2000, 11


def run_bench(args, port, pid, mode, allocations):
    """Runs one rtcgate-bench turn scenario; returns (figures or None, error or None)."""
    hold = mode == "hold"
    duration = args.hold_duration if hold else args.duration
    cmd = [args.bench, "turn", "--server", f"{args.ip}:{port}", "--json", "--server-pid", str(pid),
           "--user", USER, "--password", PASSWORD, "--realm", REALM, "--mode", mode,
           "--allocations", str(allocations), "--window", str(args.window), "--payload", str(args.payload),
           "--duration", str(duration), "--warmup", str(0 if hold else args.warmup),
           "--timeout-ms", str(args.timeout_ms)]
    if not args.plain_generator:
        cmd.append("--generator-gso")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pin(0 if args.pin else None),
                              timeout=duration + args.warmup + 120)
    except subprocess.TimeoutExpired:
        return None, "rtcgate-bench did not finish in time"
    try:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"rtcgate-bench rc={done.returncode}: {done.stderr.strip()[:400]}"
    if done.returncode != 0:
        return figures, (f"rtcgate-bench rc={done.returncode} (allocations_ok={figures.get('allocations_ok')}, "
                         f"round_trips={figures.get('round_trips')}, invalid={figures.get('invalid')}, "
                         f"setup_errors={figures.get('setup_errors')})")
    return figures, None


def one_run(name, template, args, workdir, run_index, slot):
    """Starts one server, runs every scenario against it, stops it."""
    port = free_port(args.ip)
    min_port = RELAY_BASE + (slot % RELAY_SLOTS) * RELAY_SPAN
    max_port = min_port + RELAY_SPAN - 1
    argv = shlex.split(template.format(ip=args.ip, port=port, workdir=workdir, min_port=min_port, max_port=max_port))
    if name == "rtcgate" and args.workers is not None:
        argv += ["--workers", str(args.workers)]
    if name == "rtcgate" and args.rtcgate_flags:
        argv += shlex.split(args.rtcgate_flags)
    logpath = os.path.join(workdir, f"{name}-{run_index}-{port}.log")
    result = {"server": name, "run": run_index, "port": port, "relay_ports": [min_port, max_port],
              "ok": False, "log": logpath, "scenarios": {}, "errors": {}}
    with open(logpath, "wb") as logf:
        try:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=pin(1 if args.pin else None))
        except OSError as e:
            result["errors"]["start"] = f"cannot start {argv[0]}: {e}"
            return result
        try:
            if not probe(args.ip, port, time.monotonic() + args.start_timeout):
                result["errors"]["start"] = ("exited with %s" % proc.returncode) if proc.poll() is not None \
                    else f"no Binding answer within {args.start_timeout}s"
                return result
            time.sleep(args.settle)
            result["rss_idle_kb"], result["threads_idle"] = proc_status(proc.pid)
            for scenario in args.scenarios:
                mode, allocations = SCENARIOS[scenario]
                figures, error = run_bench(args, port, proc.pid, mode, allocations)
                if figures is not None:
                    if figures.get("server_rss_kb_end") is not None and figures.get("server_rss_kb_before_setup") is not None:
                        figures["rss_delta_kb"] = figures["server_rss_kb_end"] - figures["server_rss_kb_before_setup"]
                    result["scenarios"][scenario] = figures
                if error is None and proc.poll() is not None:
                    error = f"server exited with {proc.returncode} during the scenario"
                if error:
                    result["errors"][scenario] = error
                    log(f"run {run_index} {name:8} {scenario:11} FAILED: {error} (log: {logpath})")
                    if proc.poll() is not None:
                        break
                elif mode == "hold":
                    log(f"run {run_index} {name:8} {scenario:11} {figures['allocations_ok']} allocations in "
                        f"{figures['setup_ms']} ms, RSS {result['rss_idle_kb']} idle → {figures['server_rss_kb_end']} KiB")
                else:
                    log(f"run {run_index} {name:8} {scenario:11} {figures['rtps']:>10,.0f} rt/s  p50 {figures['p50_us']} µs  "
                        f"p99 {figures['p99_us']} µs  cpu {figures['server_cpu_cores']} cores  "
                        f"{figures['server_cpu_us_per_rt']} µs/rt  lost {figures['lost']}")
            result["ok"] = not result["errors"] and len(result["scenarios"]) == len(args.scenarios)
            return result
        finally:
            stop(proc)


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def summarize(runs, scenarios):
    """{scenario: {metric: median}} over the scenario runs that succeeded, plus idle RSS."""
    out = {"idle": {"rss_idle_kb": median([r.get("rss_idle_kb") for r in runs if "rss_idle_kb" in r])}}
    for scenario in scenarios:
        good = [r["scenarios"][scenario] for r in runs if scenario in r["scenarios"] and scenario not in r["errors"]]
        metrics = HOLD_METRICS if SCENARIOS[scenario][0] == "hold" else LOAD_METRICS
        out[scenario] = {key: median([g.get(key) for g in good]) for key, _ in metrics}
        out[scenario]["runs_ok"] = len(good)
        out[scenario]["runs"] = len(runs)
    return out


def digits(key):
    return 2 if "cores" in key or "per_rt" in key else 0 if key in INTEGRAL or key in ("rtps", "setup_ms") else 1


def build_tables(summary, names, scenarios):
    """(text, markdown) with one row per scenario × metric, a column per server and the ratio."""
    rows = [("idle", "RSS idle KiB", "rss_idle_kb")]
    for scenario in scenarios:
        rows.append((scenario, "runs ok", "runs_ok"))
        metrics = HOLD_METRICS if SCENARIOS[scenario][0] == "hold" else LOAD_METRICS
        rows += [(scenario, label, key) for key, label in metrics]
    table = []
    for scenario, label, key in rows:
        values = [summary[n][scenario].get(key) for n in names]
        if key == "runs_ok":
            cells = [f"{summary[n][scenario]['runs_ok']}/{summary[n][scenario]['runs']}" for n in names]
        else:
            cells = [fmt(v, digits(key)) for v in values]
        both = len(names) == 2 and key != "runs_ok"
        cells.append(fmt(ratio(values[0], values[1]), 2) + "×" if both and ratio(values[0], values[1]) is not None else "")
        table.append((scenario, label, cells))
    head = names + (["rtcgate/coturn"] if len(names) == 2 else [])
    text = [f"{'scenario':<12}{'metric':<32}" + "".join(f"{h:>16}" for h in head)]
    text += [f"{s:<12}{label:<32}" + "".join(f"{c:>16}" for c in cells[:len(head)]) for s, label, cells in table]
    md = ["| scenario | metric | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(head)]
    md += [f"| {s} | {label} | " + " | ".join(cells[:len(head)]) + " |" for s, label, cells in table]
    return "\n".join(text), "\n".join(md)


def headline_ratios(summary, scenarios):
    r, c = summary["rtcgate"], summary["coturn"]
    out = {"RSS idle": ratio(r["idle"]["rss_idle_kb"], c["idle"]["rss_idle_kb"])}
    if HOLD in scenarios:
        out["RSS with 1000 allocations"] = ratio(r[HOLD]["server_rss_kb_end"], c[HOLD]["server_rss_kb_end"])
        out["anonymous RSS with 1000 allocations"] = ratio(r[HOLD].get("server_anon_kb_end"), c[HOLD].get("server_anon_kb_end"))
    for s in scenarios:
        if SCENARIOS[s][0] == "hold":
            continue
        out[f"{s} round trips/s"] = ratio(r[s]["rtps"], c[s]["rtps"])
        out[f"{s} CPU per round trip"] = ratio(r[s]["server_cpu_us_per_rt"], c[s]["server_cpu_us_per_rt"])
        out[f"{s} p99"] = ratio(r[s]["p99_us"], c[s]["p99_us"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per server (default 3)")
    ap.add_argument("--only", choices=["rtcgate", "coturn"], help="benchmark one server only")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)")
    ap.add_argument("--workers", type=int, help="--workers for rtcgate (default: the dev profile's 1)")
    ap.add_argument("--rtcgate-flags", default="",
                    help="extra flags appended to the rtcgate command, e.g. --rtcgate-flags=--no-udp-gso")
    ap.add_argument("--rtcgate-cmd", default=DEFAULT_RTCGATE_CMD,
                    help="rtcgate command; {ip} {port} {min_port} {max_port} {workdir} are filled in")
    ap.add_argument("--coturn-cmd", default=DEFAULT_COTURN_CMD, help="coturn command; same placeholders")
    ap.add_argument("--bench", default=".build/release/rtcgate-bench", help="rtcgate-bench binary")
    ap.add_argument("--ip", default="127.0.0.1", choices=["127.0.0.1"], help="loopback address (IPv4 only)")
    ap.add_argument("--window", type=int, default=16, help="payloads in flight per allocation")
    ap.add_argument("--payload", type=int, default=172, help="payload bytes (172: 20 ms Opus-ish RTP)")
    ap.add_argument("--duration", type=float, default=6.0, help="measured seconds per load scenario")
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--hold-duration", type=float, default=3.0, help="seconds to hold the 1000 allocations")
    ap.add_argument("--timeout-ms", type=int, default=1000)
    ap.add_argument("--plain-generator", action="store_true",
                    help="generator and echo peer send one datagram per sendmmsg entry instead of UDP GSO runs "
                         "(costs the generator ~2x the CPU, so on 2 cores the generator, not the server, is the limit)")
    ap.add_argument("--pin", action="store_true", help="pin the server to CPU 1 and the generator to CPU 0")
    ap.add_argument("--start-timeout", type=float, default=15.0, help="seconds to wait for a server to answer")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds between first answer and idle RSS reading")
    ap.add_argument("--out", help="write all results as JSON here")
    ap.add_argument("--markdown", help="write a Markdown table here")
    args = ap.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown or not args.scenarios:
        ap.error(f"unknown scenario(s) {unknown}; choose from {','.join(SCENARIOS)}")
    if args.runs < 1 or not 0 < args.duration <= 270 or not 0 <= args.warmup <= 10 or not 0 < args.hold_duration <= 540:
        ap.error("need --runs ≥ 1, 0 < --duration ≤ 270, 0 ≤ --warmup ≤ 10, 0 < --hold-duration ≤ 540")
    if args.workers is not None and args.workers < 0:
        ap.error("--workers must be ≥ 0 (0: one per core)")
    if not os.access(args.bench, os.X_OK):
        ap.error(f"rtcgate-bench not found at {args.bench} "
                 "(build it: swift build -c release --product rtcgate-bench)")

    servers = [("rtcgate", args.rtcgate_cmd), ("coturn", args.coturn_cmd)]
    if args.only:
        servers = [s for s in servers if s[0] == args.only]
    command_line = " ".join(shlex.quote(a) for a in [sys.executable.split("/")[-1]] + sys.argv)
    workdir = tempfile.mkdtemp(prefix="turn-vs-coturn-")
    log(f"logs in {workdir}")

    started = time.monotonic()
    runs = {name: [] for name, _ in servers}
    slot = 0
    for i in range(args.runs):
        order = servers if i % 2 == 0 else servers[::-1]  # ABBA
        for name, template in order:
            runs[name].append(one_run(name, template, args, workdir, i + 1, slot))
            slot += 1
    elapsed = time.monotonic() - started

    names = [name for name, _ in servers]
    summary = {name: summarize(runs[name], args.scenarios) for name in names}
    ratios = headline_ratios(summary, args.scenarios) if len(names) == 2 else {}
    text, md = build_tables(summary, names, args.scenarios)
    workers = f", rtcgate --workers {args.workers}" if args.workers is not None else ", rtcgate workers from the dev profile"
    if args.rtcgate_flags:
        workers += f", rtcgate {args.rtcgate_flags}"
    settings = (f"{args.runs} runs/server alternating ABBA, {args.duration:g}s measured + {args.warmup:g}s warm-up per "
                f"load scenario, window {args.window}/allocation, {args.payload}-byte payload, hold "
                f"{args.hold_duration:g}s{workers}, generator {'plain sendmmsg' if args.plain_generator else 'UDP GSO'}{', pinned server→CPU1 generator→CPU0' if args.pin else ''}")
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}"
    ratio_lines = [f"rtcgate/coturn {label:<32} {fmt(v, 2)}×" if v is not None else f"rtcgate/coturn {label:<32} –"
                   for label, v in ratios.items()]
    print(f"\nTURN relay over UDP ({settings})\n{machine}\nwall time {elapsed:.0f} s\n\n{text}\n\n"
          + "\n".join(ratio_lines) + ("\n" if ratio_lines else ""))

    failed = any(not r["ok"] for rs in runs.values() for r in rs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command_line": command_line, "settings": settings, "machine": machine,
                       "wall_seconds": round(elapsed, 1), "summary": summary, "ratios": ratios,
                       "runs": runs, "failed": failed}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"### TURN relay: rtcgate vs coturn\n\n{settings}; {machine}.\n\n{md}\n\n"
                    + "".join(f"- rtcgate/coturn {label}: **{fmt(v, 2)}×**\n" if v is not None else
                              f"- rtcgate/coturn {label}: –\n" for label, v in ratios.items())
                    + "\nMedians over the runs. A round trip is client → server → echo peer → server → "
                    "client (the echo peer lives in the load generator). CPU is the server process's "
                    "utime+stime over the measured interval; the generator shares the same machine. "
                    "RSS with 1000 allocations is read while they are held, on a fresh server.\n\n"
                    + "".join(f"- {n}: `{t}`\n" for n, t in servers)
                    + f"\nCommand: `{command_line}`\n")
    if failed:
        log("FAILED: at least one scenario failed (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

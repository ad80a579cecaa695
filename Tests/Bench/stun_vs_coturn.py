#!/usr/bin/env python3
"""Benchmark rtcgate's STUN service side by side with coturn on loopback.

Both servers run in the same invocation, alternating run by run (A B A B ...)
so that machine drift hits both. Each run: start the server on a fresh port,
wait until it answers a STUN Binding (raw-socket probe, bounded), record its
idle RSS, drive it with `rtcgate-bench stun --json --server-pid PID`, stop it
(SIGTERM, then SIGKILL). Medians over --runs are printed with the ratios
rtcgate/coturn, and optionally written as JSON (--out) and Markdown (--markdown).

Python 3 standard library only. Only 127.0.0.1 / ::1 traffic. Every loop is
bounded in time. Exit status is non-zero if any server failed in any run.

Run from the rtcgate repository root, e.g.:
    python3 Tests/Bench/stun_vs_coturn.py --runs 5 --markdown bench.md
    python3 Tests/Bench/stun_vs_coturn.py --only coturn --runs 3 --duration 5
"""

import argparse
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

DEFAULT_RTCGATE_CMD = (".build/release/rtcgate run --board board/dev/profile.conf "
                       "--listening-ip {ip} --listening-port {port} --stun-rate-limit 0 --stats-interval 0")
# coturn 4.6.1 as a plain STUN-only server: no TLS/DTLS listeners, no CLI, no TCP
# relay, log to stdout (redirected to a file), default relay threads (= number
# of CPUs; net engine 3, "UDP thread per CPU core"), no config file (-n).
DEFAULT_COTURN_CMD = ("turnserver -n --listening-ip={ip} --listening-port={port} --no-tls --no-dtls "
                      "--no-tcp-relay --stun-only --no-cli --log-file=stdout --simple-log "
                      "--pidfile={workdir}/coturn-{port}.pid")

MAGIC = 0x2112A442
# Figures kept per run and summarised by their median (key in bench JSON -> label).
METRICS = [
    ("rps", "requests/s"),
    ("p50_us", "p50 µs"),
    ("p99_us", "p99 µs"),
    ("p999_us", "p99.9 µs"),
    ("server_cpu_cores", "server CPU cores"),
    ("server_cpu_us_per_req", "CPU µs/request"),
    ("rss_idle_kb", "RSS idle KiB"),
    ("server_rss_kb_end", "RSS after load KiB"),
    ("server_threads", "threads"),
    ("gen_cpu_cores", "generator cores"),
    ("lost", "lost"),
]

INTEGRAL = {"rss_idle_kb", "server_rss_kb_end", "server_threads", "lost"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port(ip):
    """A port free for UDP and TCP on ip (and port+1, for RFC 5780 alternates)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for _ in range(200):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            held = []
            for p in (port, port + 1):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    t = socket.socket(family, kind)
                    held.append(t)
                    t.bind((ip, p))
            return port
        except OSError:
            pass
        finally:
            for t in held:
                t.close()
    raise RuntimeError("no free port found")


def probe(ip, port, deadline):
    """True once the server answers a Binding request with a success response."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            txid = os.urandom(12)
            try:
                s.sendto(struct.pack("!HHI", 0x0001, 0, MAGIC) + txid, (ip, port))
                data = s.recv(2048)
            except OSError:  # timeout, or ICMP port unreachable before the bind
                time.sleep(0.05)
                continue
            if len(data) >= 20 and struct.unpack("!HHI", data[:8])[::2] == (0x0101, MAGIC) and data[8:20] == txid:
                return True
    return False


def proc_status(pid):
    """(VmRSS KiB, threads) of a process, or (None, None)."""
    rss = threads = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        pass
    return rss, threads


def stop(proc, grace=5.0):
    """SIGTERM, then SIGKILL after a bounded wait."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


def pin(cpu):
    """preexec_fn pinning the child (and every thread it starts) to one CPU."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def one_run(name, template, args, workdir, run_index):
    """Starts one server, loads it, stops it; returns a dict of figures (ok=False on failure)."""
    port = free_port(args.ip)
    argv = shlex.split(template.format(ip=args.ip, port=port, workdir=workdir))
    logpath = os.path.join(workdir, f"{name}-{run_index}-{port}.log")
    result = {"server": name, "run": run_index, "port": port, "ok": False, "log": logpath}
    with open(logpath, "wb") as logf:
        try:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=pin(1 if args.pin else None))
        except OSError as e:
            result["error"] = f"cannot start {argv[0]}: {e}"
            return result
        try:
            if not probe(args.ip, port, time.monotonic() + args.start_timeout):
                result["error"] = ("exited with %s" % proc.returncode) if proc.poll() is not None \
                    else f"no Binding answer within {args.start_timeout}s"
                return result
            time.sleep(args.settle)
            result["rss_idle_kb"], result["threads_idle"] = proc_status(proc.pid)
            server = f"[{args.ip}]:{port}" if ":" in args.ip else f"{args.ip}:{port}"
            bench = [args.bench, "stun", "--server", server, "--json", "--server-pid", str(proc.pid),
                     "--sockets", str(args.sockets), "--window", str(args.window),
                     "--duration", str(args.duration), "--warmup", str(args.warmup),
                     "--timeout-ms", str(args.timeout_ms)] + (["--fingerprint"] if args.fingerprint else [])
            try:
                done = subprocess.run(bench, capture_output=True, text=True, preexec_fn=pin(0 if args.pin else None),
                                      timeout=args.duration + args.warmup + 30)
            except subprocess.TimeoutExpired:
                result["error"] = "rtcgate-bench did not finish in time"
                return result
            try:
                figures = json.loads(done.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                result["error"] = f"rtcgate-bench rc={done.returncode}: {done.stderr.strip()[:300]}"
                return result
            result.update(figures)
            result["server"] = name
            alive = proc.poll() is None
            result["ok"] = done.returncode == 0 and alive
            if not result["ok"]:
                result["error"] = "server died during the run" if not alive else \
                    f"rtcgate-bench rc={done.returncode} (invalid={figures.get('invalid')}, requests={figures.get('requests')})"
            return result
        finally:
            stop(proc)


def median_of(runs, key):
    values = [r[key] for r in runs if r.get("ok") and isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer() and digits == 0:
        value = int(value)
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"  # noqa: E231


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def build_tables(summary, ratios):
    """(plain text table, markdown table) of the medians and ratios."""
    names = list(summary)
    def digits(key):
        return 2 if "cores" in key or "per_req" in key else 0 if key in INTEGRAL else 1
    rows = [(label, [fmt(summary[n]["median"].get(key), digits(key)) for n in names]) for key, label in METRICS]
    rows.insert(0, ("runs ok", [f"{summary[n]['runs_ok']}/{summary[n]['runs']}" for n in names]))
    width = max(len(r[0]) for r in rows) + 2
    text = [" " * width + "".join(f"{n:>16}" for n in names)]
    text += [f"{label:<{width}}" + "".join(f"{v:>16}" for v in vals) for label, vals in rows]
    md = ["| median | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    md += [f"| {label} | " + " | ".join(vals) + " |" for label, vals in rows]
    if ratios:
        text.append("")
        md.append("")
        for label, value in ratios.items():
            text.append(f"rtcgate/coturn {label:<22} {fmt(value, 2)}×" if value is not None else f"rtcgate/coturn {label}: –")
            md.append(f"- rtcgate/coturn {label}: **{fmt(value, 2)}×**" if value is not None else f"- rtcgate/coturn {label}: –")
    return "\n".join(text), "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per server (default 5)")
    ap.add_argument("--only", choices=["rtcgate", "coturn"], help="benchmark one server only")
    ap.add_argument("--rtcgate-cmd", default=DEFAULT_RTCGATE_CMD,
                    help="rtcgate command; {ip} {port} {workdir} are filled in")
    ap.add_argument("--coturn-cmd", default=DEFAULT_COTURN_CMD, help="coturn command; same placeholders")
    ap.add_argument("--bench", default=".build/release/rtcgate-bench", help="rtcgate-bench binary")
    ap.add_argument("--ip", default="127.0.0.1", choices=["127.0.0.1", "::1"], help="loopback address to use")
    ap.add_argument("--sockets", type=int, default=8)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--timeout-ms", type=int, default=1000)
    ap.add_argument("--fingerprint", action="store_true", help="send FINGERPRINT in requests")
    ap.add_argument("--pin", action="store_true", help="pin the server to CPU 1 and the generator to CPU 0")
    ap.add_argument("--start-timeout", type=float, default=15.0, help="seconds to wait for a server to answer")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds between first answer and idle RSS reading")
    ap.add_argument("--out", help="write all results as JSON here")
    ap.add_argument("--markdown", help="write a Markdown table here")
    args = ap.parse_args()
    if args.runs < 1 or not 0 < args.duration <= 3600 or not 0 <= args.warmup <= 600:
        ap.error("need --runs ≥ 1, 0 < --duration ≤ 3600, 0 ≤ --warmup ≤ 600")
    if not os.access(args.bench, os.X_OK):
        ap.error(f"rtcgate-bench not found at {args.bench} (build it: swift build -c release)")

    servers = [("rtcgate", args.rtcgate_cmd), ("coturn", args.coturn_cmd)]
    if args.only:
        servers = [s for s in servers if s[0] == args.only]
    command_line = " ".join(shlex.quote(a) for a in [sys.executable.split("/")[-1]] + sys.argv)
    workdir = tempfile.mkdtemp(prefix="stun-vs-coturn-")
    log(f"logs in {workdir}")

    runs = {name: [] for name, _ in servers}
    for i in range(args.runs):
        for name, template in servers:  # A B A B ...
            r = one_run(name, template, args, workdir, i + 1)
            runs[name].append(r)
            if r["ok"]:
                log(f"run {i + 1} {name:8} {r['rps']:>10,.0f} req/s  p50 {r['p50_us']} µs  p99 {r['p99_us']} µs  "
                    f"cpu {r['server_cpu_cores']} cores  {r['server_cpu_us_per_req']} µs/req")
            else:
                log(f"run {i + 1} {name:8} FAILED: {r.get('error')} (log: {r['log']})")

    summary = {}
    for name, template in servers:
        ok_runs = [r for r in runs[name] if r["ok"]]
        summary[name] = {
            "command": template, "runs": len(runs[name]), "runs_ok": len(ok_runs),
            "median": {key: median_of(runs[name], key) for key, _ in METRICS},
        }
    ratios = {}
    if "rtcgate" in summary and "coturn" in summary:
        m_r, m_c = summary["rtcgate"]["median"], summary["coturn"]["median"]
        ratios = {"throughput": ratio(m_r["rps"], m_c["rps"]),
                  "CPU per request": ratio(m_r["server_cpu_us_per_req"], m_c["server_cpu_us_per_req"]),
                  "p99 latency": ratio(m_r["p99_us"], m_c["p99_us"])}
    text, md = build_tables(summary, ratios)
    settings = (f"{args.runs} runs/server alternating, {args.duration:g}s measured + {args.warmup:g}s warm-up, "
                f"{args.sockets} sockets, window {args.window}, {args.ip}{', fingerprint' if args.fingerprint else ''}"
                f"{', pinned server→CPU1 generator→CPU0' if args.pin else ''}")
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}"
    print(f"\nSTUN Binding over UDP ({settings})\n{machine}\n\n{text}\n")

    failed = any(not r["ok"] for rs in runs.values() for r in rs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command_line": command_line, "settings": settings, "machine": machine,
                       "summary": summary, "ratios": ratios, "runs": runs, "failed": failed}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"### STUN Binding throughput: rtcgate vs coturn\n\n{settings}; {machine}.\n\n{md}\n\n"
                    "Medians over the runs. CPU is the server process's utime+stime over the measured interval; "
                    "the load generator shares the same machine.\n\n"
                    + "".join(f"- {n}: `{s['command']}`\n" for n, s in summary.items())
                    + f"\nCommand: `{command_line}`\n")
    if failed:
        log("FAILED: at least one server run failed (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark rtcgate's TURN over TLS (turns:, RFC 8656) side by side with coturn on loopback.

Both servers get the same throwaway ECDSA P-256 certificate (made here with the openssl CLI:
own CA, SAN IP:127.0.0.1) and run in the same invocation, alternating ABBA run by run. Each
scenario below starts the server afresh on new ports with its own relay port range, waits
until it answers a STUN Binding over UDP and accepts TCP on its TLS port (bounded), reads its
idle RssAnon, and drives it with rtcgate-bench (--json --server-pid PID):

    hold-tls        --hold connections (default 200), each TCP connect → full TLS handshake →
                    one STUN Binding, held --hold-duration s: server RssAnon growth per connection
    hold-alloc-tls  as many TURN allocations, each on its own TLS connection (Allocate), held:
                    RssAnon growth per TLS allocation
    channel-4-tls   4 allocations over TLS, ChannelData (padded, back to back), window --window,
                    --payload bytes, echo peer on UDP 127.0.0.1: round trips/s, server CPU µs each
    handshakes      --connectors closed-loop connectors: connect → full handshake (no tickets,
                    no session reuse) → Binding → close: handshakes/s and server CPU ms each

The memory scenarios each get a fresh server (freed memory of an earlier scenario would hide
growth); channel-4-tls and handshakes share one. Medians over --runs with ratios rtcgate/coturn,
printed, and optionally written as Markdown (--markdown) and JSON (--out).

rtcgate runs with one worker (the dev profile), no control socket or state, and its handshake
budgets lifted (--tls-handshake-rate 0, a per-source rate far above the load: they exist to
shed floods and would otherwise cap this bench at 20/s from 127.0.0.1) and enough TLS
connection records for the hold. coturn runs as in turn_vs_coturn.py (default relay threads,
one per CPU) with its TLS listener on and TCP/DTLS listeners off. Both negotiate TLS 1.3 with
the bench's default client.

Python 3 standard library only (helpers shared with stun_vs_coturn.py) and the openssl CLI.
Only 127.0.0.1 traffic. Every wait is bounded. Exit status is non-zero if any scenario of any
run failed. Run from the repository root after
`swift build -c release --product rtcgate --product rtcgate-bench`, e.g.:
    python3 Tests/Bench/turn_tls_vs_coturn.py --markdown tls-bench.md --out tls-bench.json
    python3 Tests/Bench/turn_tls_vs_coturn.py --runs 1 --duration 3 --only rtcgate
"""

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stun_vs_coturn import free_port, fmt, log, pin, probe, ratio, stop  # noqa: E402
from turn_vs_coturn import RELAY_BASE, RELAY_SLOTS, RELAY_SPAN, median  # noqa: E402

USER, PASSWORD, REALM = "alice", "secret", "example.org"
DEFAULT_RTCGATE_CMD = ("{rtcgate} run --board board/dev/profile.conf "
                       "--listening-ip {ip} --listening-port {port} --stun-rate-limit 0 --stats-interval 0 "
                       f"--user {USER}:{PASSWORD} --realm {REALM} --allowed-peer-ip {{ip}} "
                       "--min-port {min_port} --max-port {max_port} --max-allocations 1024 --pool-prefault "
                       "--workers 1 --control-socket '' --state-dir '' "
                       "--tls-listening-port {tls_port} --cert {cert} --pkey {pkey} --tls-max-connections {tls_records} "
                       "--tls-handshake-rate 0 --tls-handshake-rate-per-source 100000")
# coturn 4.6.1 as in turn_vs_coturn.py, with the TLS listener on: long-term credentials, loopback
# peers allowed, UDP relay, no DTLS/TCP listeners, no CLI, default relay threads (one per CPU).
DEFAULT_COTURN_CMD = ("turnserver -n --listening-ip={ip} --listening-port={port} --relay-ip={ip} "
                      "--tls-listening-port={tls_port} --cert={cert} --pkey={pkey} "
                      "--min-port={min_port} --max-port={max_port} "
                      f"--user={USER}:{PASSWORD} --realm={REALM} --lt-cred-mech --allow-loopback-peers "
                      "--no-dtls --no-tcp --no-tcp-relay --no-cli --log-file=stdout --simple-log "
                      "--pidfile={workdir}/coturn-{port}.pid")

# Scenario -> rows (JSON key, label); a "fresh" scenario gets a server of its own.
SCENARIOS = {
    "hold-tls": [("anon_kb_per_connection", "RssAnon per open TLS connection KiB"),
                 ("rss_kb_per_connection", "VmRSS per open TLS connection KiB"),
                 ("server_anon_kb_end", "RssAnon while holding KiB")],
    "hold-alloc-tls": [("anon_kb_per_allocation", "RssAnon per TLS allocation KiB"),
                       ("server_anon_kb_end", "RssAnon while holding KiB")],
    "channel-4-tls": [("rtps", "round trips/s"), ("server_cpu_us_per_rt", "server CPU µs/round trip"),
                      ("server_cpu_cores", "server CPU cores"), ("p50_us", "p50 µs"), ("p99_us", "p99 µs"),
                      ("gen_cpu_cores", "generator cores"), ("lost", "lost")],
    "handshakes": [("handshakes_per_s", "full handshakes/s"), ("server_cpu_ms_per_handshake", "server CPU ms/handshake"),
                   ("server_cpu_cores", "server CPU cores"), ("p50_us", "set-up p50 µs"),
                   ("gen_cpu_cores", "generator cores"), ("failures_total", "failures")],
}
FRESH = ["hold-tls", "hold-alloc-tls"]
INTEGRAL = {"lost", "failures_total", "rss_anon_idle_kb", "rtps", "handshakes_per_s", "server_anon_kb_end"}


def make_certificate(workdir):
    """Throwaway CA and ECDSA P-256 server certificate for 127.0.0.1; returns (ca, cert, key)."""
    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True, timeout=30, cwd=workdir)
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("openssl", "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "30", "-subj", "/CN=rtcgate bench CA",
        "-out", "ca.pem")
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    run("openssl", "req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr")
    with open(os.path.join(workdir, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-sha256", "-extfile", "ext.cnf", "-out", "server.pem")
    return tuple(os.path.join(workdir, n) for n in ("ca.pem", "server.pem", "server.key"))


def rss_anon(pid):
    """RssAnon of a process in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def accepts(ip, port, deadline):
    """True once a TCP connect to ip:port succeeds."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def ports(ip):
    """A UDP/TCP listening port and a TLS port, each with port+1 free and all four distinct."""
    for _ in range(50):
        port, tls_port = free_port(ip), free_port(ip)
        if len({port, port + 1, tls_port, tls_port + 1}) == 4:
            return port, tls_port
    raise RuntimeError("no free port pair found")


def bench(args, argv, timeout):
    """Runs rtcgate-bench; returns (figures or None, error or None)."""
    try:
        done = subprocess.run([args.bench] + argv + ["--json"], capture_output=True, text=True,
                              preexec_fn=pin(0 if args.pin else None), timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "rtcgate-bench did not finish in time"
    try:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"rtcgate-bench rc={done.returncode}: {done.stderr.strip()[:400]}"
    if done.returncode != 0:
        detail = {k: figures.get(k) for k in ("allocations_ok", "round_trips", "invalid", "setup_errors", "handshakes",
                                              "held", "failures", "first_error") if k in figures}
        return figures, f"rtcgate-bench rc={done.returncode} {detail}"
    return figures, None


def scenario(args, name, tls_server, pid):
    """Runs one scenario against a started server; returns (figures, error)."""
    common = ["--server", tls_server, "--server-pid", str(pid), "--timeout-ms", str(args.timeout_ms)]
    turn = ["turn", "--transport", "tls", "--user", USER, "--password", PASSWORD, "--realm", REALM] + common
    if name == "hold-tls":
        figures, error = bench(args, ["tls-handshakes", "--hold", str(args.hold), "--connections", str(args.hold_connectors),
                                      "--duration", str(args.hold_duration)] + common, args.hold_duration + 180)
    elif name == "hold-alloc-tls":
        figures, error = bench(args, turn + ["--mode", "hold", "--allocations", str(args.hold),
                                             "--duration", str(args.hold_duration)], args.hold_duration + 180)
        if figures and figures.get("allocations_ok") and figures.get("server_anon_kb_end") is not None:
            figures["anon_kb_per_allocation"] = round(
                (figures["server_anon_kb_end"] - figures["server_anon_kb_start"]) / figures["allocations_ok"], 2)
    elif name == "channel-4-tls":
        figures, error = bench(args, turn + ["--mode", "channel", "--allocations", "4", "--window", str(args.window),
                                             "--payload", str(args.payload), "--duration", str(args.duration),
                                             "--warmup", str(args.warmup)], args.duration + args.warmup + 120)
    else:
        figures, error = bench(args, ["tls-handshakes", "--connections", str(args.connectors), "--duration",
                                      str(args.duration), "--warmup", str(args.warmup)] + common,
                               args.duration + args.warmup + 120)
        if figures:
            figures["failures_total"] = figures["failures"]["total"]
    return figures, error


def serve(name, template, args, workdir, tag, slot, scenarios, result):
    """Starts one server, runs `scenarios` against it in order, stops it; fills `result`."""
    port, tls_port = ports(args.ip)
    min_port = RELAY_BASE + (slot % RELAY_SLOTS) * RELAY_SPAN
    argv = shlex.split(template.format(rtcgate=args.rtcgate, ip=args.ip, port=port, tls_port=tls_port, workdir=workdir, min_port=min_port,
                                       max_port=min_port + RELAY_SPAN - 1, cert=args.cert, pkey=args.pkey,
                                       tls_records=max(256, args.hold + 64)))
    logpath = os.path.join(workdir, f"{name}-{tag}-{port}.log")
    result["logs"].append(logpath)
    with open(logpath, "wb") as logf:
        try:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=pin(1 if args.pin else None))
        except OSError as e:
            for s in scenarios:
                result["errors"][s] = f"cannot start {argv[0]}: {e}"
            return
        try:
            deadline = time.monotonic() + args.start_timeout
            if not probe(args.ip, port, deadline) or not accepts(args.ip, tls_port, deadline):
                why = f"exited with {proc.returncode}" if proc.poll() is not None else \
                    f"no Binding answer or TLS port within {args.start_timeout}s"
                for s in scenarios:
                    result["errors"][s] = why
                return
            time.sleep(args.settle)
            result.setdefault("rss_anon_idle_kb", rss_anon(proc.pid))
            for s in scenarios:
                figures, error = scenario(args, s, f"{args.ip}:{tls_port}", proc.pid)
                if figures is not None:
                    result["scenarios"][s] = figures
                if error is None and proc.poll() is not None:
                    error = f"server exited with {proc.returncode} during the scenario"
                if error:
                    result["errors"][s] = error
                    log(f"{tag} {name:8} {s:15} FAILED: {error} (log: {logpath})")
                    if proc.poll() is not None:
                        break
                else:
                    key, label = SCENARIOS[s][0]
                    extra = f"  ({figures.get('protocol')})" if s in ("channel-4-tls", "handshakes") else ""
                    cpu = figures.get("server_cpu_us_per_rt") or figures.get("server_cpu_ms_per_handshake")
                    log(f"{tag} {name:8} {s:15} {label}: {figures.get(key)}" + (f", server CPU {cpu}" if cpu else "") + extra)
        finally:
            stop(proc)


def one_run(name, template, args, workdir, run_index, slot):
    """Every scenario of one run of one server (fresh servers for the memory ones)."""
    result = {"server": name, "run": run_index, "scenarios": {}, "errors": {}, "logs": []}
    groups = [[s] for s in args.scenarios if s in FRESH] + [[s for s in args.scenarios if s not in FRESH]]
    for group in (g for g in groups if g):
        serve(name, template, args, workdir, f"run {run_index}", slot, group, result)
        slot += 1
    result["ok"] = not result["errors"] and len(result["scenarios"]) == len(args.scenarios)
    return result, slot


def summarize(runs, scenarios):
    out = {"idle": {"rss_anon_idle_kb": median([r.get("rss_anon_idle_kb") for r in runs])}}
    for s in scenarios:
        good = [r["scenarios"][s] for r in runs if s in r["scenarios"] and s not in r["errors"]]
        out[s] = {key: median([g.get(key) for g in good]) for key, _ in SCENARIOS[s]}
        out[s]["runs_ok"], out[s]["runs"] = len(good), len(runs)
    return out


def digits(key):
    return 0 if key in INTEGRAL or key.endswith("_us") else 3 if "ms_per" in key else 1 if "_kb_per" in key else 2


def build_tables(summary, names, scenarios):
    rows = [("idle", "RssAnon idle KiB", "rss_anon_idle_kb")]
    for s in scenarios:
        rows.append((s, "runs ok", "runs_ok"))
        rows += [(s, label, key) for key, label in SCENARIOS[s]]
    head = names + (["rtcgate/coturn"] if len(names) == 2 else [])
    table = []
    for s, label, key in rows:
        if key == "runs_ok":
            cells = [f"{summary[n][s]['runs_ok']}/{summary[n][s]['runs']}" for n in names] + [""]
        else:
            values = [summary[n][s].get(key) for n in names]
            r = ratio(values[0], values[1]) if len(names) == 2 else None
            cells = [fmt(v, digits(key)) for v in values] + [fmt(r, 2) + "×" if r is not None else ""]
        table.append((s, label, cells[:len(head)]))
    text = [f"{'scenario':<16}{'metric':<38}" + "".join(f"{h:>16}" for h in head)]
    text += [f"{s:<16}{label:<38}" + "".join(f"{c:>16}" for c in cells) for s, label, cells in table]
    md = ["| scenario | metric | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(head)]
    md += [f"| {s} | {label} | " + " | ".join(cells) + " |" for s, label, cells in table]
    return "\n".join(text), "\n".join(md)


def goals(summary, scenarios):
    """Lines on the issue's goals (a): ≥ 1.5× coturn's rate at ≤ ½ its CPU per round trip."""
    r, c = summary["rtcgate"], summary["coturn"]
    out = []
    if "channel-4-tls" in scenarios:
        rate = ratio(r["channel-4-tls"]["rtps"], c["channel-4-tls"]["rtps"])
        cpu = ratio(r["channel-4-tls"]["server_cpu_us_per_rt"], c["channel-4-tls"]["server_cpu_us_per_rt"])
        out.append(f"TLS channel-4 round trips/s rtcgate/coturn {fmt(rate, 2)}× (goal ≥ 1.5×: "
                   f"{'met' if rate is not None and rate >= 1.5 else 'NOT met'})")
        out.append(f"TLS channel-4 server CPU per round trip rtcgate/coturn {fmt(cpu, 2)}× (goal ≤ 0.5×: "
                   f"{'met' if cpu is not None and cpu <= 0.5 else 'NOT met'})")
    if "handshakes" in scenarios:
        out.append(f"server CPU per full handshake rtcgate/coturn "
                   f"{fmt(ratio(r['handshakes']['server_cpu_ms_per_handshake'], c['handshakes']['server_cpu_ms_per_handshake']), 2)}×")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per server (default 3)")
    ap.add_argument("--only", choices=["rtcgate", "coturn"], help="benchmark one server only")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)} (default: all)")
    ap.add_argument("--rtcgate-cmd", default=DEFAULT_RTCGATE_CMD,
                    help="rtcgate command; {rtcgate} {ip} {port} {tls_port} {cert} {pkey} {tls_records} {min_port} "
                         "{max_port} {workdir} are filled in")
    ap.add_argument("--rtcgate", default=".build/release/rtcgate", help="rtcgate binary for {rtcgate}")
    ap.add_argument("--coturn-cmd", default=DEFAULT_COTURN_CMD, help="coturn command; same placeholders")
    ap.add_argument("--bench", default=".build/release/rtcgate-bench", help="rtcgate-bench binary")
    ap.add_argument("--ip", default="127.0.0.1", choices=["127.0.0.1"], help="loopback address (IPv4 only)")
    ap.add_argument("--window", type=int, default=16, help="payloads in flight per allocation")
    ap.add_argument("--payload", type=int, default=172, help="payload bytes (172: 20 ms Opus-ish RTP)")
    ap.add_argument("--connectors", type=int, default=8, help="concurrent connectors (handshakes, and opening holds)")
    ap.add_argument("--hold", type=int, default=200, help="TLS connections (and TLS allocations) to hold")
    ap.add_argument("--hold-connectors", type=int, default=1,
                    help="connections opened at once for hold-tls (1, like hold-alloc-tls: no overlapping handshakes "
                         "whose transient buffers would fragment the heap and inflate the growth)")
    ap.add_argument("--duration", type=float, default=6.0, help="measured seconds per load scenario")
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--hold-duration", type=float, default=2.0, help="seconds to hold the connections")
    ap.add_argument("--timeout-ms", type=int, default=3000, help="message loss / connection set-up timeout")
    ap.add_argument("--pin", action="store_true", help="pin the server to CPU 1 and the generator to CPU 0")
    ap.add_argument("--start-timeout", type=float, default=15.0, help="seconds to wait for a server to answer")
    ap.add_argument("--settle", type=float, default=0.5, help="seconds between first answer and idle RssAnon reading")
    ap.add_argument("--out", help="write all results as JSON here")
    ap.add_argument("--markdown", help="write a Markdown table here")
    args = ap.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not args.scenarios or any(s not in SCENARIOS for s in args.scenarios):
        ap.error(f"--scenarios: choose from {','.join(SCENARIOS)}")
    if args.runs < 1 or not 0 < args.duration <= 270 or not 0 <= args.warmup <= 10 or not 0 < args.hold_duration <= 300:
        ap.error("need --runs ≥ 1, 0 < --duration ≤ 270, 0 ≤ --warmup ≤ 10, 0 < --hold-duration ≤ 300")
    if not 1 <= args.hold <= 4000 or not 1 <= args.connectors <= 256 or not 1 <= args.hold_connectors <= 256:
        ap.error("need 1 ≤ --hold ≤ 4000 and 1 ≤ --connectors, --hold-connectors ≤ 256")
    if not os.access(args.bench, os.X_OK):
        ap.error(f"rtcgate-bench not found at {args.bench} (build it: swift build -c release --product rtcgate-bench)")

    servers = [("rtcgate", args.rtcgate_cmd), ("coturn", args.coturn_cmd)]
    if args.only:
        servers = [s for s in servers if s[0] == args.only]
    command_line = " ".join(shlex.quote(a) for a in [sys.executable.split("/")[-1]] + sys.argv)
    workdir = tempfile.mkdtemp(prefix="turn-tls-vs-coturn-")
    args.ca, args.cert, args.pkey = make_certificate(workdir)
    log(f"logs and certificate in {workdir}")

    started = time.monotonic()
    runs = {name: [] for name, _ in servers}
    slot = 0
    for i in range(args.runs):
        for name, template in (servers if i % 2 == 0 else servers[::-1]):  # ABBA
            result, slot = one_run(name, template, args, workdir, i + 1, slot)
            runs[name].append(result)
    elapsed = time.monotonic() - started

    names = [name for name, _ in servers]
    summary = {name: summarize(runs[name], args.scenarios) for name in names}
    text, md = build_tables(summary, names, args.scenarios)
    goal_lines = goals(summary, args.scenarios) if len(names) == 2 else []
    settings = (f"{args.runs} runs/server alternating ABBA, {args.duration:g}s measured + {args.warmup:g}s warm-up per "
                f"load scenario, TLS channel-4: window {args.window}/allocation, {args.payload}-byte payload, one TLS "
                f"record per message; handshakes: {args.connectors} connectors, Binding-confirmed, no resumption; "
                f"hold {args.hold} connections ({args.hold_connectors} opening at once) for {args.hold_duration:g}s; "
                f"ECDSA P-256 certificate"
                f"{', pinned server→CPU1 generator→CPU0' if args.pin else ''}")
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}"
    print(f"\nTURN over TLS ({settings})\n{machine}\nwall time {elapsed:.0f} s\n\n{text}\n\n" + "\n".join(goal_lines))

    failed = any(not r["ok"] for rs in runs.values() for r in rs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command_line": command_line, "settings": settings, "machine": machine,
                       "wall_seconds": round(elapsed, 1), "summary": summary, "goals": goal_lines,
                       "runs": runs, "failed": failed}, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"### TURN over TLS: rtcgate vs coturn\n\n{settings}; {machine}.\n\n{md}\n\n"
                    + "".join(f"- {g}\n" for g in goal_lines)
                    + "\nMedians over the runs. A round trip is client → server (TLS) → echo peer (UDP) → server → "
                    "client; CPU is the server process's utime+stime over the measured interval; the generator "
                    "(TLS client and echo peer) shares the machine, so with its core saturated (generator cores "
                    "≈ 1) a rate measures the generator, and the CPU per operation is the server's figure. RssAnon "
                    "figures are growth while holding, on a fresh server, divided by the connections held.\n\n"
                    + "".join(f"- {n}: `{t.replace('{rtcgate}', args.rtcgate)}`\n" for n, t in servers)
                    + f"\nCommand: `{command_line}`\n")
    if failed:
        log("FAILED: at least one scenario failed (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

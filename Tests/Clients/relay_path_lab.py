#!/usr/bin/env python3
"""Three rtcgate relays on three hosts, one impaired link between them, and real calls: the path
model of docs/paths.md tried for real.

Hosts are network namespaces made here (root), joined by veth pairs to a router namespace:
  A 10.77.1.1, B 10.77.2.1, C 10.77.3.1 (an rtcgate each: cluster-instance a/b/c, site a/b/c),
  M 10.77.4.1 (mosquitto with the shipped configuration and ACL).
The router forwards between them; traffic A<->B is routed through a userspace netem
(Tests/Clients/netem_tun.py, a TUN device) whose impairment this script sets, and traffic to or
from C through another one with a fixed delay (--c-delay ms each way), so C is a real detour.
A camera (cam-1, site a, relay-only) runs in A's namespace and a viewer (viewer-1, site b) in B's:
Tests/Clients/webrtc_peer.py (aiortc) measuring the relays it is given (LINK_REPORT), asking
ICE_CONFIG for the call (body.peer) and pinging over the data channel.

Phases (each wait bounded):
  converge   every instance sees a, b and c and fresh rows for the three relay links
  impair     A<->B gets --delay ± --jitter ms each way and --loss; time until every instance excludes a-b
  call       a call: its path, both selected candidate pairs, C's relayed packet counters before
             and after, and (--probe-seconds) RTT/loss of 20 ms pings on an unreliable channel
  home       (--measure) the same call forced onto the home relays A and B (the default without
             the path model), for comparison
  lift       the impairment removed; time until `ctl path cam-1 viewer-1` on A goes a->b again
  again      the next call, and its path

Prints one JSON line with everything measured; exit 0 when every phase ran (the Swift test,
RelayPathTests, judges the values). Everything made here is removed on exit.

Usage: relay_path_lab.py --rtcgate .build/debug/rtcgate [--delay 40] [--jitter 30] [--loss 0.3] [--c-delay 5]
                         [--probe-seconds 4] [--measure] [--keep-logs DIR]
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HOSTS = {"a": "10.77.1.1", "b": "10.77.2.1", "c": "10.77.3.1", "m": "10.77.4.1"}
PASSWORD = "lab-password"


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Lab:
    def __init__(self, args):
        self.args = args
        tag = f"rpl{os.getpid() % 100000}"
        self.ns = {h: f"{tag}{h}" for h in (*HOSTS, "r")}
        self.work = tempfile.mkdtemp(prefix="rtcgate-pathlab-")
        os.chmod(self.work, 0o755)
        self.processes = []
        self.secret = secrets.token_hex(16)
        self.gateway_passwords = {h: secrets.token_hex(8) for h in "abc"}

    # --- network ---------------------------------------------------------------------------

    def netns(self, host, *cmd):
        return ("ip", "netns", "exec", self.ns[host], *cmd)

    def build_network(self):
        for name in self.ns.values():
            sh("ip", "netns", "add", name)
        router = self.ns["r"]
        sh(*self.netns("r", "ip", "link", "set", "lo", "up"))
        sh(*self.netns("r", "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        for key in ("all", "default"):
            sh(*self.netns("r", "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0"))
        for i, (host, ip) in enumerate(HOSTS.items(), start=1):
            subnet = ip.rsplit(".", 1)[0]
            sh("ip", "link", "add", f"v{host}", "netns", router, "type", "veth", "peer", "name", "eth0", "netns", self.ns[host])
            sh(*self.netns("r", "ip", "addr", "add", f"{subnet}.254/24", "dev", f"v{host}"))
            sh(*self.netns("r", "ip", "link", "set", f"v{host}", "up"))
            sh(*self.netns("r", "sysctl", "-qw", f"net.ipv4.conf.v{host}.rp_filter=0"))
            sh(*self.netns(host, "ip", "link", "set", "lo", "up"))
            sh(*self.netns(host, "ip", "addr", "add", f"{ip}/24", "dev", "eth0"))
            sh(*self.netns(host, "ip", "link", "set", "eth0", "up"))
            sh(*self.netns(host, "ip", "route", "add", "default", "via", f"{subnet}.254"))
        # Two userspace netems: A<->B (impaired at will) and everything to or from C (fixed delay).
        self.controls = {"ab": os.path.join(self.work, "netem-ab"), "c": os.path.join(self.work, "netem-c")}
        self.set_impairment("ab", 0, 0)
        self.set_impairment("c", self.args.c_delay, 0)
        for name, control in self.controls.items():
            process = subprocess.Popen(self.netns("r", sys.executable, os.path.join(HERE, "netem_tun.py"), "--dev", f"tun{name}",
                                                  "--control", control, "--duration", "900"),
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.processes.append(process)
            line = process.stdout.readline()
            if "ready" not in line:
                raise RuntimeError(f"netem {name} did not start: {line}{process.stdout.read()[-500:]}")
        a, b, c = (HOSTS[h].rsplit(".", 1)[0] + ".0/24" for h in "abc")
        sh(*self.netns("r", "ip", "route", "add", "default", "dev", "tunab", "table", "100"))
        sh(*self.netns("r", "ip", "route", "add", "default", "dev", "tunc", "table", "101"))
        rules = [("va", b, "100"), ("vb", a, "100"), ("va", c, "101"), ("vb", c, "101"), ("vc", a, "101"), ("vc", b, "101")]
        for iif, to, table in rules:
            sh(*self.netns("r", "ip", "rule", "add", "iif", iif, "to", to, "table", table))

    def set_impairment(self, link, delay_ms, loss, jitter_ms=0):
        with open(self.controls[link] + ".tmp", "w") as f:
            f.write(f"{delay_ms} {loss} {jitter_ms}\n")
        os.replace(self.controls[link] + ".tmp", self.controls[link])

    # --- broker and gateways ---------------------------------------------------------------

    def start_broker(self):
        shipped = open(os.path.join(ROOT, "packaging/mosquitto/rtcgate.conf")).read().replace("/etc/mosquitto/", self.work + "/")
        with open(os.path.join(self.work, "mosquitto.conf"), "w") as f:
            f.write(f"listener 1883 {HOSTS['m']}\n{shipped}\nlog_dest stderr\nlog_type error\nlog_type warning\n")
        acl = open(os.path.join(ROOT, "packaging/mosquitto/rtcgate.acl")).read()
        block = acl[acl.index("\nuser rtcgate\n") + len("\nuser rtcgate\n"):]
        topics = "\n".join(line for line in block.splitlines() if line.startswith("topic "))
        with open(os.path.join(self.work, "rtcgate.acl"), "w") as f:
            f.write(acl + "".join(f"\nuser rtcgate-{h}\n{topics}\n" for h in "abc"))
        passwd = os.path.join(self.work, "rtcgate.passwd")
        open(passwd, "w").close()
        for user, password in [*((f"rtcgate-{h}", self.gateway_passwords[h]) for h in "abc"), ("cam-1", PASSWORD), ("viewer-1", PASSWORD)]:
            sh("mosquitto_passwd", "-b", passwd, user, password)
        for name in os.listdir(self.work):
            os.chmod(os.path.join(self.work, name), 0o644)
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.spawn("m", "mosquitto", [mosquitto, "-c", os.path.join(self.work, "mosquitto.conf")])
        self.wait(lambda: sh(*self.netns("m", "bash", "-c", f"exec 3<>/dev/tcp/{HOSTS['m']}/1883"), check=False).returncode == 0,
                  10, "mosquitto to listen")

    def start_gateways(self):
        with open(os.path.join(self.work, "rtcgate.conf"), "w") as f:
            f.write("signal-client = cam-1 role=device groups=lab site=a relay-only\n"
                    "signal-client = viewer-1 role=viewer groups=lab site=b relay-only\n")
        for h in "abc":
            self.spawn(h, f"rtcgate-{h}", [
                self.args.rtcgate, "run", "--board", os.path.join(ROOT, "board/dev/profile.conf"),
                "--config", os.path.join(self.work, "rtcgate.conf"), "--listening-ip", HOSTS[h], "--listening-port", "3478",
                "--min-port", "50000", "--max-port", "50999", "--cluster-instance", h, "--site", h,
                "--mqtt-host", HOSTS["m"], "--mqtt-user", f"rtcgate-{h}", "--mqtt-password", self.gateway_passwords[h],
                "--use-auth-secret", "--static-auth-secret", self.secret, "--realm", "lab",
                "--control-socket", self.sock(h), "--state-dir", "", "--stats-interval", "0"])

    def sock(self, host):
        return os.path.join(self.work, f"{host}.sock")

    def spawn(self, host, name, cmd):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        process = subprocess.Popen(self.netns(host, *cmd), stdout=log, stderr=subprocess.STDOUT)
        process.name = name
        self.processes.append(process)
        return process

    def ctl(self, host, *args):
        out = sh(self.args.rtcgate, "ctl", "--socket", self.sock(host), "--json", *args, check=False)
        try:
            return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr.strip() or out.stdout.strip()}
        except ValueError:
            return {"error": out.stdout}

    @staticmethod
    def wait(predicate, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return time.monotonic()
            time.sleep(0.2)
        raise RuntimeError(f"timed out ({seconds} s) waiting for {what}")

    def link(self, host, a, b):
        for row in self.ctl(host, "links").get("links", []):
            if {row.get("from"), row.get("to")} == {a, b} and row.get("by") == "relays":
                return row
        return None

    # --- calls -----------------------------------------------------------------------------

    def call(self, label, extra=(), camera_extra=(), viewer_extra=(), messages=20):
        """cam-1 (answerer) in A, viewer-1 (offerer) in B; returns both peers' results and the
        packets each relay relayed during the call."""
        before = {h: self.relayed(h) for h in "abc"}
        peer = os.path.join(HERE, "webrtc_peer.py")
        common = ["--password", PASSWORD, "--broker", f"{HOSTS['m']}:1883", "--timeout", "60", "--messages", str(messages), *extra]
        cam = subprocess.Popen(self.netns("a", sys.executable, peer, "--id", "cam-1", "--peer", "viewer-1", "--role", "answerer", *common,
                                          *camera_extra),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        probe = ["--probe-seconds", str(self.args.probe_seconds)] if self.args.probe_seconds else []
        viewer = subprocess.run(self.netns("b", sys.executable, peer, "--id", "viewer-1", "--peer", "cam-1", "--role", "offerer",
                                           *common, *probe, *viewer_extra), capture_output=True, text=True, timeout=90)
        try:
            cam_out, cam_err = cam.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            cam.kill()
            cam_out, cam_err = cam.communicate()

        def last_json(text):
            lines = [line for line in text.splitlines() if line.startswith("{")]
            return json.loads(lines[-1]) if lines else {"ok": False, "error": "no result"}
        result = {"camera": last_json(cam_out), "viewer": last_json(viewer.stdout)}
        after = {h: self.relayed(h) for h in "abc"}
        result["relayedPackets"] = {h: after[h]["toPeer"] + after[h]["toClient"] - before[h]["toPeer"] - before[h]["toClient"] for h in "abc"}
        for side, err in (("camera", cam_err), ("viewer", viewer.stderr)):
            if not result[side].get("ok"):
                result[side]["stderr"] = err[-1500:]
        return result

    def relayed(self, host):
        """Packets host's TURN relay has relayed so far (to peers, to clients)."""
        packets = self.ctl(host, "stats").get("turn_packets_total") or {}
        return {"toPeer": packets.get("direction=to_peer", 0), "toClient": packets.get("direction=to_client", 0)}

    def run(self):
        out = {"ok": False}
        try:
            self.build_network()
            self.start_broker()
            self.start_gateways()
            started = time.monotonic()
            self.wait(lambda: all(len(self.ctl(h, "links").get("relays", [])) == 3 for h in "abc"), 20, "every instance to see a, b and c")
            self.wait(lambda: all(self.link(h, x, y) for h in "abc" for x, y in (("a", "b"), ("a", "c"), ("b", "c"))), 20,
                      "fresh rows for the three relay links")
            out["convergeSeconds"] = round(time.monotonic() - started, 1)
            out["linksBefore"] = self.ctl("a", "links")
            self.set_impairment("ab", self.args.delay, self.args.loss, self.args.jitter)
            changed = time.monotonic()
            self.wait(lambda: all((self.link(h, "a", "b") or {}).get("excluded") for h in "abc"), 30, "a-b excluded everywhere")
            out["impairVisibleSeconds"] = round(time.monotonic() - changed, 1)
            out["linksImpaired"] = self.ctl("a", "links")
            out["impairedCall"] = self.call("impaired", ["--link-report", "--path"])
            out["pathImpaired"] = self.ctl("a", "path", "cam-1", "viewer-1")
            if self.args.measure:  # the default without the path model: each end on its home relay
                out["homeCall"] = self.call("home", camera_extra=["--turn-host", HOSTS["a"]], viewer_extra=["--turn-host", HOSTS["b"]],
                                            messages=2)
            self.set_impairment("ab", 0, 0)
            lifted = time.monotonic()
            self.wait(lambda: self.ctl("a", "path", "cam-1", "viewer-1").get("relays") == ["a", "b"], 30,
                      "the path to go a->b again after the impairment was lifted")
            out["liftVisibleSeconds"] = round(time.monotonic() - lifted, 1)
            out["againCall"] = self.call("again", ["--link-report", "--path"])
            out["pathAgain"] = self.ctl("a", "path", "cam-1", "viewer-1")
            out["metricsA"] = self.ctl("a", "stats")
            out["ok"] = True
        except Exception as e:  # noqa: BLE001
            out["error"] = f"{type(e).__name__}: {e}"
        finally:
            self.teardown(out)
        return out

    def teardown(self, out):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
        if not out.get("ok"):
            out["logs"] = {}
            for name in os.listdir(self.work):
                if name.endswith(".log"):
                    out["logs"][name] = open(os.path.join(self.work, name)).read()[-1500:]
        if self.args.keep_logs:
            shutil.copytree(self.work, self.args.keep_logs, dirs_exist_ok=True)
        for name in self.ns.values():
            sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rtcgate", required=True)
    p.add_argument("--delay", type=float, default=40, help="ms each way on the impaired A<->B link")
    p.add_argument("--loss", type=float, default=0.3, help="loss each way on the impaired A<->B link")
    p.add_argument("--jitter", type=float, default=30, help="± ms of delay each way on the impaired A<->B link")
    p.add_argument("--c-delay", type=float, default=5, help="ms each way to and from C")
    p.add_argument("--probe-seconds", type=float, default=4)
    p.add_argument("--measure", action="store_true", help="also a call on the home relays A and B while impaired")
    p.add_argument("--keep-logs", metavar="DIR")
    args = p.parse_args()
    if os.geteuid() != 0:
        print(json.dumps({"ok": False, "error": "needs root (ip netns)"}))
        sys.exit(1)
    result = Lab(args).run()
    print(json.dumps(result), flush=True)
    sys.exit(0 if result.get("ok") else 1)


if __name__ == "__main__":
    main()

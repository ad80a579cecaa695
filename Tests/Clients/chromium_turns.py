#!/usr/bin/env python3
"""A real Chromium relays a WebRTC data channel through a TURN server over TLS (turns:).

Debian's chromium, driven by selenium through /usr/bin/chromedriver (nothing downloaded:
Selenium Manager is skipped because the driver path is given), opens a local page holding two
RTCPeerConnections (offerer and answerer, signalling in-page), both with
iceServers [{urls: "turns:HOST:PORT?transport=tcp", ...}] and iceTransportPolicy "relay".
It sends --count pings on a data channel, waits for every echo, then reads getStats() for the
selected candidate pair: the local candidate must be candidateType "relay", relayProtocol "tls".
With --hold S the call stays up S more seconds with a ping every 100 ms, counting pings whose
echo never came back ("lost") and the longest gap between echoes ("maxGapMs").

Trust is real: the browser runs with a throwaway HOME whose NSS database ($HOME/.pki/nssdb)
trusts only the --ca certificate; there is no --ignore-certificate-errors.

Prints one JSON line, e.g.
  {"connected": true, "messages": 20, "echoed": 20, "localCandidateType": "relay",
   "relayProtocol": "tls", "remoteCandidateType": "relay", "seconds": 1.2, ...}
Exit 0 only if connected, every ping echoed, the pair is relay over tls and lost <= --max-lost;
otherwise exit 1 with an "error" in the JSON. Every wait is bounded.

Usage:
  chromium_turns.py --make-certs DIR [--rsa] [--san IP:1.2.3.4 --san DNS:turn.test]
      writes DIR/ca.pem, DIR/server.pem (server cert + CA), DIR/server.key and exits
  chromium_turns.py --ca DIR/ca.pem --url 'turns:127.0.0.1:5349?transport=tcp'
      (--username U --password P | --secret S [--user NAME]) [--count 20] [--timeout 30]
      [--hold SECONDS] [--max-lost 0] [--screenshot FILE]
"""

import argparse, base64, datetime, hashlib, hmac, ipaddress, json, os, re, shutil
import signal, subprocess, sys, tempfile, time

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/lib/chromium/chromium"  # the binary itself, not Debian's /usr/bin wrapper


def make_certs(out_dir, rsa, sans):
    """A throwaway CA and a server certificate it signs (ECDSA P-256, or RSA 2048 with --rsa)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa as rsa_keys
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def key():
        return rsa_keys.generate_private_key(65537, 2048) if rsa else ec.generate_private_key(ec.SECP256R1())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, srv_key = key(), key()
    ca = (x509.CertificateBuilder().subject_name(name("rtcgate test CA")).issuer_name(name("rtcgate test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    alt = [x509.IPAddress(ipaddress.ip_address(v[3:])) if v.startswith("IP:") else x509.DNSName(v[4:])
           for v in sans]
    srv = (x509.CertificateBuilder().subject_name(name("rtcgate test server")).issuer_name(ca.subject)
           .public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.SubjectAlternativeName(alt), critical=False)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.KeyUsage(True, False, rsa, False, False, False, False, False, False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
    os.makedirs(out_dir, exist_ok=True)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(out_dir, "ca.pem"), "wb") as f:
        f.write(pem(ca))
    with open(os.path.join(out_dir, "server.pem"), "wb") as f:
        f.write(pem(srv) + pem(ca))
    with os.fdopen(os.open(os.path.join(out_dir, "server.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(srv_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))


PAGE = r"""<!doctype html><meta charset="utf-8"><title>turns test</title><pre id="log"></pre><script>
const S = window.S = {phase: "page", connected: false, sent: 0, echoed: 0, holdSent: 0, holdEchoed: 0,
  lost: null, maxGapMs: null, relayCandidates: 0, ice: "new", iceErrors: [], error: null, done: false};
const show = () => document.getElementById("log").textContent = JSON.stringify(S, null, 1);
const sleep = ms => new Promise(r => setTimeout(r, ms));
// The selected pair of pc's transport (or the nominated, succeeded pair) and its two candidates.
async function selected(pc) {
  const st = await pc.getStats(); let pair = null;
  st.forEach(r => { if (r.type === "transport" && r.selectedCandidatePairId) pair = st.get(r.selectedCandidatePairId); });
  if (!pair) st.forEach(r => { if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r; });
  if (!pair) return {};
  const l = st.get(pair.localCandidateId) || {}, r = st.get(pair.remoteCandidateId) || {};
  return {localCandidateType: l.candidateType, relayProtocol: l.relayProtocol, remoteCandidateType: r.candidateType,
          localAddress: `${l.address}:${l.port}`, remoteAddress: `${r.address}:${r.port}`, turnUrl: l.url};
}
async function run(cfg) {
  try {
    const t0 = performance.now();
    const conf = {iceServers: [{urls: cfg.url, username: cfg.username, credential: cfg.password}],
                  iceTransportPolicy: "relay"};
    const a = new RTCPeerConnection(conf), b = new RTCPeerConnection(conf);
    window.pcs = [a, b];
    for (const [x, y] of [[a, b], [b, a]]) {  // trickle candidates straight to the other side
      x.onicecandidate = e => {
        if (!e.candidate) return;
        if (/ typ relay /.test(e.candidate.candidate)) S.relayCandidates++;
        y.addIceCandidate(e.candidate).catch(err => S.iceErrors.push("addIceCandidate: " + err));
      };
      x.onicecandidateerror = e => S.iceErrors.push(`${e.url} ${e.errorCode} ${e.errorText}`);
    }
    a.oniceconnectionstatechange = () => { S.ice = a.iceConnectionState; show(); };
    let noRelay;                                    // fail fast: gathering ended with no relay
    const gathered = new Promise((_, rej) => noRelay = rej);
    a.onicegatheringstatechange = () => {
      if (a.iceGatheringState === "complete" && S.relayCandidates === 0) noRelay("no relay candidate gathered");
    };
    b.ondatachannel = e => { e.channel.onmessage = m => e.channel.send(m.data); };  // the echo side
    const dc = a.createDataChannel("ping");
    let lastEcho = 0; const holdSeen = new Set();
    dc.onmessage = m => {
      if (m.data.startsWith("p:")) S.echoed++;
      else if (m.data.startsWith("h:") && !holdSeen.has(m.data)) {
        holdSeen.add(m.data); S.holdEchoed++;
        const now = performance.now(); if (lastEcho) S.maxGapMs = Math.max(S.maxGapMs || 0, Math.round(now - lastEcho));
        lastEcho = now;
      }
      show();
    };
    const open = new Promise(res => dc.onopen = res);
    S.phase = "signalling";
    await a.setLocalDescription(); await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(); await a.setRemoteDescription(b.localDescription);
    S.phase = "connecting"; show();
    await Promise.race([open, gathered]);           // Python bounds every wait with --timeout
    S.connected = true; S.phase = "pinging";
    for (let i = 0; i < cfg.count; i++) { dc.send("p:" + i); S.sent++; }
    while (S.echoed < cfg.count) await sleep(20);
    S.seconds = Math.round(performance.now() - t0) / 1000;
    Object.assign(S, await selected(a)); S.phase = "pinged"; show();
    if (cfg.holdMs > 0) {                           // a live call: a ping every 100 ms
      S.phase = "holding"; lastEcho = performance.now();
      const end = performance.now() + cfg.holdMs;
      while (performance.now() < end) { dc.send("h:" + S.holdSent); S.holdSent++; await sleep(100); }
      const grace = performance.now() + 2000;       // late echoes still count
      while (S.holdEchoed < S.holdSent && performance.now() < grace) await sleep(20);
      S.lost = S.holdSent - S.holdEchoed;
      S.after = await selected(a);                  // still relay over tls after the hold?
    }
    S.phase = "done";
  } catch (err) { S.error = String(err); }
  S.done = true; show();
}
</script>"""


def rest_credentials(secret, user, ttl=3600):
    """TURN REST API credentials: username "expiry:user", password base64(HMAC-SHA1(secret, username))."""
    username = f"{int(time.time()) + ttl}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def descendants(pid):
    """Every process below pid (chromedriver's chromium and its helpers), read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c); todo.append(c)
    return found


def run_browser(args, result):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = tempfile.mkdtemp(prefix="chromium-turns-")
    driver, pids = None, []
    try:
        # A HOME of our own whose NSS database trusts the test CA, and nothing else of ours.
        home, nssdb = os.path.join(tmp, "home"), os.path.join(tmp, "home", ".pki", "nssdb")
        os.makedirs(nssdb)
        for cmd in (["certutil", "-N", "--empty-password", "-d", "sql:" + nssdb],
                    ["certutil", "-A", "-n", "testca", "-t", "C,,", "-i", args.ca, "-d", "sql:" + nssdb]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        page = os.path.join(tmp, "page.html")
        with open(page, "w") as f:
            f.write(PAGE)

        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--user-data-dir=" + os.path.join(tmp, "profile")) + tuple(args.flag):
            options.add_argument(flag)
        # Selenium Manager is skipped since the driver path is given; SE_OFFLINE keeps it off the
        # network should it run anyway. Chromium inherits HOME (so the NSS db) from chromedriver.
        os.environ["SE_OFFLINE"] = "true"
        env = dict(os.environ, HOME=home)
        service = Service(executable_path=CHROMEDRIVER, env=env, log_output=os.path.join(tmp, "chromedriver.log"))
        driver = webdriver.Chrome(service=service, options=options)
        pids = descendants(service.process.pid)
        driver.set_script_timeout(10)
        driver.get("file://" + page)
        cfg = {"url": args.url, "username": args.username, "password": args.password,
               "count": args.count, "holdMs": int(args.hold * 1000)}
        driver.execute_script("run(arguments[0])", cfg)  # starts the call; progress lands in window.S

        deadline = time.monotonic() + args.timeout
        state = {}
        while time.monotonic() < deadline:
            state = driver.execute_script("return window.S") or {}
            if state.get("done") or state.get("phase") in ("holding",):
                break
            time.sleep(0.1)
        if state.get("phase") == "holding":           # the hold has its own bound: hold + grace + 5 s
            deadline = time.monotonic() + args.hold + 7
            while time.monotonic() < deadline and not state.get("done"):
                time.sleep(0.1)
                state = driver.execute_script("return window.S") or {}
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
        pids = sorted(set(pids + descendants(service.process.pid)))
        result.update({k: state.get(k) for k in ("connected", "echoed", "localCandidateType", "relayProtocol",
                                                 "remoteCandidateType", "seconds", "localAddress", "remoteAddress",
                                                 "relayCandidates", "ice", "phase")})
        if args.hold:
            result.update(holdSent=state.get("holdSent"), lost=state.get("lost"),
                          maxGapMs=state.get("maxGapMs"), after=state.get("after"))
        if state.get("iceErrors"):
            result["iceErrors"] = state["iceErrors"][:10]
        if state.get("error"):
            result["error"] = state["error"]
        elif not state.get("done"):
            result["error"] = f"timed out in phase {state.get('phase')!r} (ice {state.get('ice')})"
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        for pid in pids:                                # whatever chromium left behind, by its pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        end = time.monotonic() + 3                      # and wait (bounded) until they are gone
        while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < end:
            time.sleep(0.05)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--make-certs", metavar="DIR", help="write ca.pem, server.pem, server.key to DIR and exit")
    p.add_argument("--rsa", action="store_true", help="RSA 2048 keys instead of ECDSA P-256")
    p.add_argument("--san", action="append", default=[], help="extra subjectAltName, IP:x or DNS:x")
    p.add_argument("--ca", help="the CA certificate Chromium trusts (PEM)")
    p.add_argument("--url", default="turns:127.0.0.1:5349?transport=tcp")
    p.add_argument("--username"); p.add_argument("--password")
    p.add_argument("--secret", help="mint TURN REST credentials with this shared secret")
    p.add_argument("--user", default="chromium", help="the user part of REST credentials")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--timeout", type=float, default=30, help="seconds to connect and echo every ping")
    p.add_argument("--hold", type=float, default=0, help="then keep the call up this long, a ping every 100 ms")
    p.add_argument("--max-lost", type=int, default=0)
    p.add_argument("--screenshot")
    p.add_argument("--chromium", default=CHROMIUM)
    p.add_argument("--flag", action="append", default=[], help="an extra Chromium command-line flag")
    args = p.parse_args()

    host = re.match(r"turns?:(\[[^\]]+\]|[^:?]+)", args.url)
    host = host.group(1).strip("[]") if host else "127.0.0.1"
    if args.make_certs:
        try:
            ipaddress.ip_address(host); own = "IP:" + host
        except ValueError:
            own = "DNS:" + host
        sans = list(dict.fromkeys([own, "IP:127.0.0.1", "DNS:localhost"] + args.san))
        make_certs(args.make_certs, args.rsa, sans)
        print(json.dumps({"certs": os.path.abspath(args.make_certs), "san": sans, "key": "rsa" if args.rsa else "p256"}))
        return 0
    if not args.ca:
        p.error("--ca is required (make one with --make-certs DIR)")
    if args.secret:
        args.username, args.password = rest_credentials(args.secret, args.user)
    if args.username is None or args.password is None:
        p.error("give --username and --password, or --secret")

    result = {"connected": False, "messages": args.count, "echoed": 0, "url": args.url}
    start = time.monotonic()
    try:
        run_browser(args, result)
    except Exception as err:  # selenium, certutil or chromium failing to start
        result["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    result["wallSeconds"] = round(time.monotonic() - start, 2)
    if "error" not in result:
        if not result.get("connected"):
            result["error"] = "not connected"
        elif result.get("echoed") != args.count:
            result["error"] = f"only {result.get('echoed')} of {args.count} pings echoed"
        elif result.get("localCandidateType") != "relay" or result.get("relayProtocol") != "tls":
            result["error"] = f"selected pair is {result.get('localCandidateType')}/{result.get('relayProtocol')}, not relay/tls"
        elif args.hold and (result.get("lost") is None or result["lost"] > args.max_lost):
            result["error"] = f"lost {result.get('lost')} of {result.get('holdSent')} pings during the hold"
    print(json.dumps(result), flush=True)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A real Chromium calls a camera through rtcgate with the JavaScript client the gateway serves.

Headless Debian Chromium (selenium, /usr/bin/chromedriver) opens a page of the broker's
WebSockets listener (same origin as packaging/web), imports `/rtcgate.js` (which imports
`/mqtt.js`) and, as --id: connects (Last Will, presence), waits for --camera to be online in its
DIRECTORY, calls it, waits until --frames video frames are decoded (getStats framesDecoded),
reads the selected candidate pair, hangs up and disconnects. Prints one JSON line:
  {"ok": true, "directory": [...], "framesDecoded": 31, "firstFrameMs": 250, "localType": "relay",
   "remoteType": "relay", "protocol": "udp", "seconds": 1.9}
Exit 0 only when every step passed. Every wait is bounded.

Usage: chromium_viewer.py --base http://127.0.0.1:PORT --id viewer-1 --password P --camera cam-1
                          [--frames 30] [--timeout 30] [--screenshot FILE]
"""

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chromium_session import headless_chromium  # noqa: E402

SCRIPT = r"""
const [cfg, done] = [arguments[0], arguments[arguments.length - 1]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const within = (promise, ms, what) => Promise.race([promise,
  sleep(ms).then(() => { throw new Error(`timed out waiting for ${what}`); })]);
(async () => {
  // The way a page of the gateway loads the client (packaging/web/load.js: mosquitto's http_dir
  // sends no Content-Type, which module scripts need).
  await new Promise((resolve, reject) => {
    const tag = Object.assign(document.createElement("script"), { src: "/load.js", onload: resolve, onerror: reject });
    document.head.append(tag);
  });
  const { RtcgateClient } = await window.rtcgateImport();
  const out = { steps: [] };
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const client = new RtcgateClient({ url: `${scheme}://${location.host}/mqtt`, clientId: cfg.id, password: cfg.password });
  let seen;
  const online = new Promise((resolve) => {
    client.ondirectory = (devices) => { out.directory = devices;
      if (devices.some((d) => d.id === cfg.camera && d.online)) resolve(); };
  });
  await within(client.connect(), 10000, "the connection");
  out.steps.push("connected");
  await within(online, 10000, `${cfg.camera} online in the directory`);
  out.steps.push("directory");
  const started = performance.now();
  const call = client.call(cfg.camera);
  const video = document.createElement("video");
  Object.assign(video, { autoplay: true, playsInline: true }); // not muted: audio is played out, so its level is measured
  document.body.append(video);
  call.ontrack = (track, stream) => { video.srcObject = stream || new MediaStream([track]); };
  let ended = null;
  call.onend = (reason, error) => { ended = error ? `${reason}: ${error.message}` : reason; };
  let figures = {};
  while (performance.now() - started < cfg.timeoutMs) {
    if (ended) throw new Error(`the call ended: ${ended}`);
    figures = await call.figures();
    if (figures.framesDecoded > 0 && out.firstFrameMs === undefined) out.firstFrameMs = Math.round(performance.now() - started);
    if ((figures.framesDecoded || 0) >= cfg.frames) break;
    await sleep(50);
  }
  out.figures = figures;
  out.callMs = Math.round(performance.now() - started);
  await call.hangup();
  await client.close();
  out.steps.push("hung up");
  return out;
})().then(done, (e) => done({ error: String(e && e.message || e) }));
"""


def drive_page(driver, args, result):
    """The shipped viewer page (index.html), as a person uses it: sign in, click the camera,
    watch, hang up. Fills `result`."""
    from selenium.webdriver.common.by import By
    driver.get(args.base.rstrip("/") + "/index.html")
    driver.find_element(By.ID, "client").send_keys(args.id)
    driver.find_element(By.ID, "password").send_keys(args.password)
    driver.find_element(By.ID, "signin-button").click()
    selector = f'li.camera[data-id="{args.camera}"]:not(.offline)'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not driver.find_elements(By.CSS_SELECTOR, selector):
        message = driver.find_element(By.ID, "signin-message").text
        if message:
            raise RuntimeError(f"sign-in: {message}")
        time.sleep(0.1)
    cameras = driver.find_elements(By.CSS_SELECTOR, selector)
    if not cameras:
        raise RuntimeError(f"{args.camera} never showed online in the directory")
    result["directory"] = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "li.camera")]
    clicked = time.monotonic()
    cameras[0].click()
    figures = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        figures = driver.execute_script("return window.viewerFigures || {}") or {}
        if figures.get("framesDecoded") and "firstFrameMs" not in result:
            result["firstFrameMs"] = round((time.monotonic() - clicked) * 1000)
        if (figures.get("framesDecoded") or 0) >= args.frames:
            break
        message = driver.find_element(By.ID, "message").text
        if message and args.expect_error:
            result["pageError"] = message
            result["callState"] = driver.find_element(By.ID, "call-state").text
            return figures
        if message:
            raise RuntimeError(f"page says: {message}")
        time.sleep(0.1)
    time.sleep(1.2 + args.hold)  # one more stats tick so the figures panel shows the bitrate
    result["callState"] = driver.find_element(By.ID, "call-state").text
    result["panel"] = driver.find_element(By.ID, "figures").text.replace("\n", " | ")
    if args.screenshot:
        driver.save_screenshot(args.screenshot)
    if args.reconnect_marker:  # the test restarts the broker now; the page must come back
        with open(args.reconnect_marker, "w") as f:
            f.write("live\n")
        link = lambda: driver.find_element(By.ID, "link").get_attribute("class")  # noqa: E731
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "warn" not in link() and "off" not in link():
            time.sleep(0.05)
        result["sawReconnecting"] = "warn" in link() or "off" in link()
        while time.monotonic() < deadline and not (link() == "dot on" and driver.find_elements(By.CSS_SELECTOR, selector)):
            time.sleep(0.1)
        again = driver.find_elements(By.CSS_SELECTOR, selector)
        if not again:
            raise RuntimeError(f"after the broker restart: link {link()!r}, {args.camera} not online")
        again[0].click()
        second = {}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and (second.get("framesDecoded") or 0) < args.frames:
            time.sleep(0.1)
            second = driver.execute_script("return window.viewerFigures || {}") or {}
        result["secondCallFrames"] = second.get("framesDecoded")
    if args.kill_camera:  # the camera dies mid-call: the page must say so and show it offline
        os.kill(args.kill_camera, signal.SIGKILL)
        offline = f'li.camera[data-id="{args.camera}"].offline'
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (driver.find_elements(By.CSS_SELECTOR, offline)
                                                   and driver.find_element(By.ID, "message").text):
            time.sleep(0.1)
        result["cameraShownOffline"] = bool(driver.find_elements(By.CSS_SELECTOR, offline))
        result["offlineMessage"] = driver.find_element(By.ID, "message").text
        result["afterHangup"] = driver.find_element(By.ID, "call-state").text
        return figures
    driver.find_element(By.ID, "hangup").click()
    time.sleep(0.5)
    result["afterHangup"] = driver.find_element(By.ID, "call-state").text
    return figures


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="http://127.0.0.1:PORT of the broker's WebSockets listener")
    p.add_argument("--id", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--camera", required=True)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--screenshot")
    p.add_argument("--ca", help="PEM CA the browser trusts (for an https/wss --base)")
    p.add_argument("--chromium-flag", action="append", default=[], help="an extra Chromium flag (repeatable)")
    p.add_argument("--page", action="store_true", help="drive the shipped viewer page instead of the bare client")
    p.add_argument("--hold", type=float, default=0, help="--page: stay in the call this long before hanging up")
    p.add_argument("--expect-error", action="store_true", help="--page: the call is refused; report the page's message")
    p.add_argument("--reconnect-marker", metavar="FILE",
                   help="--page: once live, write FILE (the test restarts the broker), then call again after the reconnect")
    p.add_argument("--kill-camera", type=int, metavar="PID", help="--page: SIGKILL this camera mid-call and check the page")
    args = p.parse_args()

    result = {"ok": False}
    started = time.monotonic()
    try:
        with headless_chromium(args.timeout + 25, ca=args.ca, extra_flags=args.chromium_flag) as driver:
            if args.page:
                figures = drive_page(driver, args, result)
            else:
                driver.get(args.base.rstrip("/") + "/README.md")  # any page of the origin: the module is imported
                out = driver.execute_async_script(SCRIPT, {"id": args.id, "password": args.password, "camera": args.camera,
                                                           "frames": args.frames, "timeoutMs": int(args.timeout * 1000)})
                if args.screenshot:
                    driver.save_screenshot(args.screenshot)
                result.update(out or {"error": "no result from the page"})
                figures = result.pop("figures", {}) or {}
        result.update({k: figures.get(k) for k in ("framesDecoded", "localType", "remoteType", "protocol", "rttMs", "width", "height",
                                                   "audioSamples", "audioLevel", "audioEnergy")})
        result["ok"] = "error" not in result and ((result.get("framesDecoded") or 0) >= args.frames
                                                  or (args.expect_error and bool(result.get("pageError"))))
    except Exception as e:  # noqa: BLE001
        result["error"] = f"{type(e).__name__}: {e}"
    result["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

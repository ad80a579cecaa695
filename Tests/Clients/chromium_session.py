"""One headless Debian Chromium for a test or benchmark script: selenium through
/usr/bin/chromedriver, a throw-away profile, autoplay allowed, and everything it started killed on
the way out (chromedriver's children included), so no bounded script leaves a browser behind."""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile

from chromium_turns import CHROMEDRIVER, CHROMIUM, descendants


@contextlib.contextmanager
def headless_chromium(script_timeout, window=(1280, 960), extra_flags=(), ca=None):
    """Yields a selenium driver; `script_timeout` (s) bounds every execute_async_script. With `ca`
    (a PEM file), the browser trusts that CA and nothing else of ours: a throwaway HOME whose NSS
    database holds it (no --ignore-certificate-errors)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    tmp = tempfile.mkdtemp(prefix="rtcgate-chromium-")
    driver, pids = None, []
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--autoplay-policy=no-user-gesture-required", "--user-data-dir=" + os.path.join(tmp, "profile"),
                     *extra_flags):
            options.add_argument(flag)
        os.environ["SE_OFFLINE"] = "true"
        env = dict(os.environ)
        if ca:
            home = os.path.join(tmp, "home")
            nssdb = os.path.join(home, ".pki", "nssdb")
            os.makedirs(nssdb)
            for cmd in (["certutil", "-N", "--empty-password", "-d", "sql:" + nssdb],
                        ["certutil", "-A", "-n", "testca", "-t", "C,,", "-i", ca, "-d", "sql:" + nssdb]):
                subprocess.run(cmd, check=True, capture_output=True, timeout=30)
            env["HOME"] = home  # chromium inherits it from chromedriver
        service = Service(executable_path=CHROMEDRIVER, env=env, log_output=os.path.join(tmp, "chromedriver.log"))
        driver = webdriver.Chrome(service=service, options=options)
        pids = descendants(service.process.pid)
        driver.set_script_timeout(script_timeout)
        driver.set_window_size(*window)
        yield driver
        pids = sorted(set(pids + descendants(service.process.pid)))
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 - already gone
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


# Loads the gateway's client into any page of the broker's origin the way packaging/web/load.js
# does, and resolves with the module (for execute_async_script bodies).
IMPORT_CLIENT = r"""
await new Promise((resolve, reject) => {
  const tag = Object.assign(document.createElement("script"), { src: "/load.js", onload: resolve, onerror: reject });
  document.head.append(tag);
});
const rtcgate = await window.rtcgateImport();
"""

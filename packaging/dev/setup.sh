#!/usr/bin/env bash
# Installs what building, running and testing rtcgate need on Debian 12 with the Swift
# toolchain: Debian packages via apt-get (only when missing) and the Python test clients
# in .venv. Safe to run again; sourced by run.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

packages=(libssl-dev libmosquitto-dev mosquitto mosquitto-clients coturn python3-venv python3-pip jq openssl iproute2 xz-utils binutils chromium chromium-driver libnss3-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start their daemons where systemd runs; rtcgate's scripts start their own.
command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet coturn 2>/dev/null && systemctl stop coturn || true

# Python clients nobody here wrote, in a venv of the project's: aioice (STUN/TURN), aiortc
# (a WebRTC peer), paho-mqtt (an MQTT client), amqtt (an MQTT 3.1.1-only broker, for the
# client's protocol fallback) and selenium (drives Debian's chromium through /usr/bin/chromedriver
# for the turns: browser test), pinned.
PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import aioice, aiortc, paho.mqtt, amqtt, selenium" 2>/dev/null; then
  echo "setup: installing Python test clients into .venv"
  .venv/bin/pip install -q --disable-pip-version-check aioice==0.13.0 aiortc==1.16.0 paho-mqtt==2.1.0 amqtt==0.12.1 selenium==4.50.0 websockets==15.0.1
fi

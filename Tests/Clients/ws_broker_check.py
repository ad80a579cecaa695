#!/usr/bin/env python3
"""Checks a broker's WebSockets listener the way a browser uses it, with paho-mqtt.

1. GET PATH over HTTP(S) from the WebSockets port (mosquitto's http_dir).
2. A device logs in over MQTT-over-WebSockets (ws, or wss checked against --ca) with its
   password; the gateway user logs in over MQTT/TCP. Gateway → device on down/DEVICE and
   device → gateway on up/DEVICE must both arrive (the shipped ACL, same rules as TCP).
3. The device with a wrong password is refused.

Prints one JSON line {"ok": bool, "http_status": n, "down": bool, "up": bool,
"wrong_password_refused": bool, "errors": [...]}; exit 0 only when ok. Bounded waits.

Usage: ws_broker_check.py --ws-port P [--ca CA.pem] --tcp-port P --device cam-1 --device-password X
                          --gateway-user rtcgate --gateway-password Y [--prefix rtc/v1] [--path /README.md]
"""

import argparse
import json
import ssl
import sys
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt


def client(client_id, user, password, websockets, ca):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    transport="websockets" if websockets else "tcp", protocol=mqtt.MQTTv311)
    c.username_pw_set(user, password)
    if websockets and ca:
        c.tls_set(ca_certs=ca)
    return c


def connect(c, port, timeout=5.0):
    """Connects and runs the loop; returns the CONNACK reason code (0 = accepted) or None."""
    result = {}
    done = threading.Event()

    def on_connect(_c, _u, _f, reason, _p):
        result["rc"] = reason.value if hasattr(reason, "value") else int(reason)
        done.set()

    c.on_connect = on_connect
    try:
        c.connect("127.0.0.1", port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        return f"connect: {exc!r}"
    c.loop_start()
    done.wait(timeout)
    return result.get("rc")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ws-port", type=int, required=True)
    p.add_argument("--tcp-port", type=int, required=True)
    p.add_argument("--ca")
    p.add_argument("--device", required=True)
    p.add_argument("--device-password", required=True)
    p.add_argument("--gateway-user", default="rtcgate")
    p.add_argument("--gateway-password", required=True)
    p.add_argument("--prefix", default="rtc/v1")
    p.add_argument("--path", default="/README.md")
    args = p.parse_args()
    out = {"ok": False, "errors": []}
    scheme = "https" if args.ca else "http"
    try:
        context = ssl.create_default_context(cafile=args.ca) if args.ca else None
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{args.ws_port}{args.path}", timeout=5, context=context) as r:
            out["http_status"] = r.status
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["errors"].append(f"http: {exc!r}")

    got = {"down": threading.Event(), "up": threading.Event()}
    device = client(args.device, args.device, args.device_password, True, args.ca)
    gateway = client(args.gateway_user, args.gateway_user, args.gateway_password, False, None)
    device.on_message = lambda _c, _u, m: got["down"].set() if m.payload == b"to-device" else None
    gateway.on_message = lambda _c, _u, m: got["up"].set() if m.payload == b"to-gateway" else None
    try:
        for name, c, port in (("device", device, args.ws_port), ("gateway", gateway, args.tcp_port)):
            rc = connect(c, port)
            if rc != 0:
                out["errors"].append(f"{name} not accepted: {rc}")
        device.subscribe(f"{args.prefix}/down/{args.device}", qos=1)
        gateway.subscribe(f"{args.prefix}/up/{args.device}", qos=1)
        time.sleep(0.5)
        gateway.publish(f"{args.prefix}/down/{args.device}", b"to-device", qos=1)
        device.publish(f"{args.prefix}/up/{args.device}", b"to-gateway", qos=1)
        out["down"] = got["down"].wait(5)
        out["up"] = got["up"].wait(5)
    finally:
        for c in (device, gateway):
            c.disconnect()
            c.loop_stop()
    wrong = client(args.device, args.device, "not-" + args.device_password, True, args.ca)
    rc = connect(wrong, args.ws_port)
    out["wrong_password_refused"] = rc not in (0, None) and not isinstance(rc, str)
    wrong.disconnect()
    wrong.loop_stop()
    out["ok"] = (not out["errors"] and out.get("http_status") == 200 and out["down"] and out["up"]
                 and out["wrong_password_refused"])
    print(json.dumps(out, sort_keys=True))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()

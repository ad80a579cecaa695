#!/usr/bin/env python3
"""A burst of TURN allocations from one address, with aioice's TURN client (written outside
this project): what a site behind one NAT does when many cameras start calls at once.

Sets up COUNT allocations from 127.0.0.1 (each from its own UDP port, as a new client would),
at most CONCURRENCY being set up at a time. Each one does the full long-term credential dance
(Allocate -> 401 -> Allocate with the nonce) with aioice's own retransmissions, then is deleted
(Refresh, lifetime 0) so the server's table never holds more than CONCURRENCY of them.

Prints one JSON line:
  {"count": N, "succeeded": n, "failed": n, "errors": {"text": count, ...}, "seconds": s}
Exit status 0 only when every allocation succeeded. Bounded: each allocation gets
ATTEMPT_TIMEOUT seconds, the whole run --deadline seconds.

Usage: turn_burst.py --port PORT --username U --password P [--count 1000] [--concurrency 64]
"""

import argparse
import asyncio
import collections
import json
import sys
import time

from aioice import turn

ATTEMPT_TIMEOUT = 20.0


class Ignore(asyncio.DatagramProtocol):
    """The application side of the relay: nothing is sent through it here."""

    def datagram_received(self, data, addr):
        pass


async def allocate_once(args, gate, errors):
    async with gate:
        try:
            transport, _ = await asyncio.wait_for(
                turn.create_turn_endpoint(Ignore, server_addr=(args.host, args.port), username=args.username,
                                          password=args.password, transport="udp"),
                timeout=ATTEMPT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - every failure is counted by its kind
            errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
            return False
        relayed = transport.get_extra_info("sockname")
        transport.close()  # Refresh with lifetime 0, then the socket closes
        await asyncio.sleep(0)
        return bool(relayed)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--deadline", type=float, default=240.0)
    args = parser.parse_args()

    gate = asyncio.Semaphore(args.concurrency)
    errors = collections.Counter()
    started = time.monotonic()
    tasks = [asyncio.ensure_future(allocate_once(args, gate, errors)) for _ in range(args.count)]
    done, pending = await asyncio.wait(tasks, timeout=args.deadline)
    for task in pending:
        task.cancel()
    if pending:
        errors["not finished before the deadline"] += len(pending)
    succeeded = sum(1 for task in done if not task.cancelled() and task.exception() is None and task.result())
    # Let the deletions (Refresh 0) of the last allocations go out before the loop closes.
    await asyncio.sleep(0.5)
    result = {"count": args.count, "succeeded": succeeded, "failed": args.count - succeeded,
              "errors": dict(errors), "seconds": round(time.monotonic() - started, 2)}
    print(json.dumps(result), flush=True)
    return 0 if succeeded == args.count else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

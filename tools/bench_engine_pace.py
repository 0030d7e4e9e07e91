#!/usr/bin/env python3
"""Does the status engine keep its pace for as long as requests wait?

Against a running demo (``tools/dev.py demo``), it keeps ``--requests`` Centrapay
requests pending for ``--minutes`` (creating new ones, through the POS's create
RPC, as old ones expire), with nobody paying. Then it reads the sandbox's call
log, which is the truth about what Odoo asked Centrapay, and reports the gaps
between Odoo's calls: between any two calls, and between two reads of the
activity feed. The engine's target is no gap over 2 s while anything waits.

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/bench_engine_pace.py \\
        --url http://127.0.0.1:8069 --sandbox http://127.0.0.1:8900 \\
        --db pos_centrapay_demo --minutes 5

Only 127.0.0.1 is accepted. It stops by itself, and voids what it created.
"""

import argparse
import math
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from bench_concurrency import Demo, parse_ts, say

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from centrapay.sandbox.control import SandboxControl  # noqa: E402


def gaps(timestamps):
    ordered = sorted(timestamps)
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False)]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8900")
    parser.add_argument("--db", default="pos_centrapay_demo")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--requests", type=int, default=3, help="kept pending")
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    for url in (args.url, args.sandbox):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            sys.exit(f"only 127.0.0.1 is benchmarked here, not {url}")
    demo = Demo(args)
    control = SandboxControl(args.sandbox)
    rpc = demo.admin
    made = []

    def pending():
        return rpc.call(
            "centrapay.payment.request",
            "search_read",
            [("id", "in", made), ("status", "in", ["draft", "new"])],
            ["centrapay_id"],
        )

    last_made = [0.0]

    def top_up():
        # One at a time, spread out, so their expiries never coincide.
        waiting = len(pending())
        if waiting >= args.requests or (waiting and time.time() - last_made[0] < 20):
            return
        last_made[0] = time.time()
        state = rpc.call(
            "pos.payment.method",
            "centrapay_create_request",
            [demo.method_id],
            {
                "amount": 1.5,
                "payment_uuid": str(uuid.uuid4()),
                "order_uuid": str(uuid.uuid4()),
                "order_name": "Pace",
                "session_id": demo.session_id,
            },
        )
        if state.get("error"):
            say(f"create refused: {state['error']}")
        else:
            made.append(state["id"])

    control.clear_calls()
    started = time.time()
    end = started + args.minutes * 60
    lowest = args.requests
    say(f"keeping {args.requests} requests pending for {args.minutes:g} min")
    while time.time() < end:
        top_up()
        time.sleep(1.0)
        if time.time() - started > 60:
            lowest = min(lowest, len(pending()))
    calls = [c for c in control.calls() if c["path"].startswith("/api/")]
    for request in pending():
        rpc.call(
            "pos.payment.method",
            "centrapay_cancel_request",
            [demo.method_id],
            request["centrapay_id"],
            demo.session_id,
        )
    times = [parse_ts(c["timestamp"]) for c in calls]
    feed = [
        parse_ts(c["timestamp"])
        for c in calls
        if c["path"].startswith("/api/payment-activities")
    ]
    all_gaps, feed_gaps = gaps(times), gaps(feed)
    minutes = (time.time() - started) / 60
    print(
        f"{minutes:.1f} min, {len(made)} requests made, never fewer than "
        f"{lowest} pending after the first minute (checked each second)"
    )
    print(f"Odoo -> Centrapay calls: {len(calls)} ({len(calls) / minutes:.0f}/min)")
    print(f"feed reads: {len(feed)} ({len(feed) / minutes:.0f}/min)")
    for name, values in (("any two calls", all_gaps), ("two feed reads", feed_gaps)):
        if values:
            print(
                f"gap between {name}: p50 {percentile(values, 0.5):.2f} s, "
                f"p99 {percentile(values, 0.99):.2f} s, max {max(values):.2f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

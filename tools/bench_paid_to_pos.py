#!/usr/bin/env python3
"""Measure the time from "paid" in the sandbox to the POS showing it paid.

Against a running demo (``tools/dev.py demo``), in headless Chromium, for each run:
sell one product and pick Centrapay; then the patron pays through the sandbox's
control API. The clock starts when that call returns (the request is paid at
Centrapay) and stops when the POS closes the QR code on its own, having learnt of
the payment (webhook or status job, then the bus, or its fallback poll).

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/bench_paid_to_pos.py \\
        --pos-path "/pos/ui?config_id=4" --runs 10 [--webhooks off]
"""

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

from cdp import Browser, login_and_open_pos, start_centrapay_payment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from centrapay.sandbox.control import SandboxControl  # noqa: E402

OBSERVER = """
window.__cpClosedAt = null;
new MutationObserver((_, observer) => {
    if (!document.querySelector('.centrapay-qr-dialog')) {
        window.__cpClosedAt = Date.now();
        observer.disconnect();
    }
}).observe(document.body, {childList: true, subtree: true});
"""


def pay(pay_url):
    base, _, request_id = pay_url.rpartition("/pay/")
    req = urllib.request.Request(
        f"{base}/_sandbox/payment-requests/{request_id}/pay", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        json.load(resp)
    return time.time() * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8069")
    parser.add_argument("--pos-path", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sandbox-url", default="http://127.0.0.1:8900")
    parser.add_argument(
        "--webhooks",
        choices=["on", "off"],
        default="on",
        help="off: the sandbox sends none, so only the status job reports payments",
    )
    args = parser.parse_args()
    control = SandboxControl(args.sandbox_url)
    webhook_url = control.webhook_config()["url"]
    if args.webhooks == "off":
        control.set_webhook(None)
    browser = Browser()
    samples, calls = [], []
    try:
        pos = browser.page()
        login_and_open_pos(pos, args.base_url, args.pos_path)
        for run in range(1, args.runs + 1):
            control.clear_calls()
            pay_url = start_centrapay_payment(pos)
            pos.js(OBSERVER)
            paid_at = pay(pay_url)
            pos.wait("window.__cpClosedAt", timeout=30)
            samples.append(pos.js("window.__cpClosedAt") - paid_at)
            pos.click(".receipt-screen .button.next.highlight[name='done']")
            pos.wait("document.querySelector('.product-screen article.product')")
            # Centrapay API calls Odoo made for this payment (the patron's excluded).
            request_id = pay_url.rpartition("/")[2]
            calls.append(
                sum(
                    1
                    for call in control.calls()
                    if call["path"].startswith("/api/")
                    and (request_id in call["path"] or call["method"] == "POST")
                    and not call["path"].endswith("/pay")
                )
            )
            print(f"run {run}: {samples[-1]:.0f} ms, {calls[-1]} API calls", flush=True)
    finally:
        browser.close()
        control.set_webhook(webhook_url)
    print(
        f"webhooks {args.webhooks}: paid -> POS shows paid over {len(samples)} runs: "
        f"median {statistics.median(samples):.0f} ms, "
        f"min {min(samples):.0f} ms, max {max(samples):.0f} ms; "
        f"Centrapay API calls per payment: median {statistics.median(calls):g}, "
        f"max {max(calls)}"
    )


if __name__ == "__main__":
    main()

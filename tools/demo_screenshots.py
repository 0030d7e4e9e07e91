#!/usr/bin/env python3
"""Refresh README's screenshots from a running demo (``tools/dev.py demo``).

Runs one Centrapay payment in headless Chromium: the POS QR screen, the sandbox's
patron pay page (a second browser tab), then the receipt; then refunds that sale
from the POS (Orders → Refund → Centrapay, and its confirmation) and takes the
refund receipt; last,
the back office's Centrapay reconciliation.

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/demo_screenshots.py \\
        --pos-path "/pos/ui?config_id=4"
"""

import argparse
import json
import time
from pathlib import Path

from cdp import Browser, login_and_open_pos, start_centrapay_payment

OUT = Path(__file__).resolve().parent.parent / "static" / "description"


def click_text(page, selector, text):
    """Click the first ``selector`` element whose text contains ``text``."""
    found = (
        f"[...document.querySelectorAll({json.dumps(selector)})]"
        f".find(e => e.textContent.includes({json.dumps(text)}))"
    )
    page.wait(found)
    page.js(f"{found}.click()")


def refund_last_order(pos):
    """Orders → the paid order → Refund → pay the refund with Centrapay."""
    pos.click(".receipt-screen .button.next.highlight[name='done']")
    click_text(pos, ".control-buttons button", "Actions")
    click_text(pos, "button", "Refund")
    pos.click(".ticket-screen .order-row")
    click_text(pos, ".numpad-button", "1")
    pos.click(".ticket-screen .btn-primary.pay-order-button")
    pos.click(".product-screen .pay-order-button")
    pos.wait("document.querySelector('.payment-screen')")
    confirm = "document.querySelector('.modal .modal-footer .btn-primary')"
    try:  # with Centrapay as the only method, the POS starts it by itself
        pos.wait(confirm, timeout=3)
    except TimeoutError:
        click_text(pos, ".paymentmethod", "Centrapay")
    # The POS asks first: "Refund 6.79 to CP-...?"
    pos.wait(confirm, timeout=30)
    time.sleep(0.5)
    pos.screenshot(OUT / "pos_refund_confirm.png")
    click_text(pos, ".modal .modal-footer .btn-primary", "Refund")
    pos.wait("document.querySelector('.receipt-screen')", timeout=30)


def reconciliation(page, base_url):
    """The open session's Centrapay reconciliation (its form's Centrapay button):
    a merchant's day, not every payment the sandbox's seeded history holds."""
    page.goto(f"{base_url}/odoo/action-point_of_sale.action_pos_session")
    page.wait("document.querySelector('.o_data_row')", timeout=60)
    click_text(page, ".o_data_row .o_data_cell", "POS/")
    button = "button[name=action_centrapay_reconciliation]"
    page.wait(f"document.querySelector('.o_form_view {button}')", timeout=30)
    page.js(f"document.querySelector('.o_form_view {button}').click()")
    page.wait("document.querySelector('.o_group_header')", timeout=60)
    page.js("document.querySelectorAll('.o_group_header').forEach(h => h.click())")
    page.wait("document.querySelector('.o_data_row')")
    time.sleep(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8069")
    parser.add_argument("--pos-path", required=True)
    parser.add_argument(
        "--display-path",
        help="the customer display's path, /pos_customer_display/<config>/<token>",
    )
    args = parser.parse_args()
    browser = Browser()
    try:
        pos = browser.page()
        login_and_open_pos(pos, args.base_url, args.pos_path)
        display = browser.page()
        if args.display_path:
            # The customer display, in the same browser: it follows the POS.
            display.goto(f"{args.base_url}{args.display_path}")
            time.sleep(3)
        pos.send("Page.bringToFront")
        pay_url = start_centrapay_payment(pos)
        time.sleep(1)
        pos.screenshot(OUT / "pos_qr_screen.png")
        if args.display_path:
            time.sleep(2)
            display.screenshot(OUT / "customer_display.png")
            pos.send("Page.bringToFront")
        patron = browser.page()
        patron.goto(pay_url)
        patron.screenshot(OUT / "sandbox_pay_page.png")
        patron.click("form button[type=submit]")
        # Chromium throttles timers in background tabs: the till is in front.
        pos.send("Page.bringToFront")
        try:
            pos.wait("document.querySelector('.receipt-screen')", timeout=30)
        except TimeoutError:
            pos.screenshot("/tmp/pcp-demo-failure.png")
            patron.screenshot("/tmp/pcp-demo-failure-patron.png")
            raise
        time.sleep(1)
        pos.screenshot(OUT / "pos_receipt.png")
        refund_last_order(pos)
        time.sleep(1)
        pos.screenshot(OUT / "pos_refund_receipt.png")
        reconciliation(pos, args.base_url)
        pos.screenshot(OUT / "reconciliation.png")
    finally:
        browser.close()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()

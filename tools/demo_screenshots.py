#!/usr/bin/env python3
"""Refresh README's screenshots from a running demo (``tools/dev.py demo``).

In headless Chromium, each flow of ``--flows`` (all by default):

- ``qr``: one Centrapay payment: the POS QR screen, the sandbox's patron pay
  page (a second browser tab), then the receipt; then refunds that sale from the
  POS (Orders → Refund → Centrapay, and its confirmation) and takes the refund
  receipt; last, the back office's Centrapay reconciliation.
- ``barcode``: the cashier types a Farmlands test card: the card being charged,
  then the receipt with the method's Farmlands discount.
- ``partial``: the customer pays part in the sandbox: the remainder due at the
  till (and on the customer display); the order is then cancelled, and Odoo
  gives the Centrapay part back.
- ``condition``: a patron code that raises a photo-ID check: Centrapay's
  message with Accept and Decline, accepted.

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/demo_screenshots.py \\
        --pos-path "/pos/ui?config_id=4" --flows barcode partial
"""

import argparse
import json
import time
import urllib.request
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


# The sandbox's test codes (doc §13, §15.19): a Farmlands card that pays, and
# a patron code whose approval raises a photo-ID check.
FARMLANDS_CARD = "424242424"
PHOTO_ID_CODE = "9990001000000019"


def next_order(pos):
    """From the receipt screen, a new order on the product screen."""
    pos.click(".receipt-screen .button.next.highlight[name='done']")
    pos.wait("document.querySelector('.product-screen article.product')")
    # The last payment's window shows its final word a moment longer.
    pos.wait("!document.querySelector('.centrapay-qr-dialog')")


def type_code(pos, code):
    """The cashier types the customer's code on the Centrapay window."""
    pos.click(".centrapay-qr-dialog .centrapay-enter-code")
    field = ".centrapay-qr-dialog input.centrapay-code-input"
    pos.wait(f"document.querySelector('{field}')")
    # Owl's t-model listens to input events.
    pos.js(
        "(() => { const input = document.querySelector("
        "'.centrapay-qr-dialog input.centrapay-code-input');"
        f"input.value = {json.dumps(code)};"
        "input.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    pos.click(".centrapay-qr-dialog .centrapay-use-code:not(:disabled)")
    pos.wait("document.querySelector(\".centrapay-qr-dialog[data-flow='barcode']\")")


def sandbox_control(pay_url, path, body=None):
    """The sandbox's control API (doc §14.9), at the origin of ``pay_url``."""
    origin = "/".join(pay_url.split("/")[:3])
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        f"{origin}/_sandbox/{path}", data=data, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()


def patron(pay_url, action, body=None):
    """The patron's side of the request whose pay page is ``pay_url``."""
    request_id = pay_url.rstrip("/").split("/")[-1]
    sandbox_control(pay_url, f"payment-requests/{request_id}/{action}", body)


def barcode_flow(pos):
    """A Farmlands card typed at the till, while the card is charged."""
    pay_url = start_centrapay_payment(pos)
    # Centrapay's answer to the charge (Quick Pay's first read) comes in 4 s,
    # so that the window can be seen charging.
    sandbox_control(
        pay_url,
        "faults",
        {
            "kind": "latency",
            "method": "GET",
            "path": "/api/payment-requests/",
            "seconds": 5,
            "times": 2,
        },
    )
    type_code(pos, FARMLANDS_CARD)
    status = "document.querySelector('.centrapay-qr-dialog .centrapay-status-word')"
    pos.wait(f"{status}.textContent.includes('Charging')", timeout=15)
    pos.screenshot(OUT / "pos_barcode_farmlands.png")
    pos.wait("document.querySelector('.receipt-screen')", timeout=30)
    # The demo method's Farmlands discount, on the lines and the receipt, once
    # the payment's window has shown its final word.
    pos.wait("!document.querySelector('.centrapay-qr-dialog')", timeout=15)
    pos.screenshot(OUT / "pos_receipt_farmlands.png")
    next_order(pos)


def partial_flow(pos, display):
    """The customer pays part in their app; the till and the display show the
    rest due. The demo till takes only Centrapay: the cashier then cancels the
    order, and Odoo gives the Centrapay part back."""
    pay_url = start_centrapay_payment(pos)
    price = pos.js("Math.round(posmodel.get_order().get_total_with_tax() * 100)")
    patron(pay_url, "pay", {"amount": str(price // 2), "mode": "partial-payment"})
    alert = "document.querySelector('.modal .modal-body')"
    pos.wait(f"{alert} && {alert}.textContent.includes('still due')", timeout=30)
    time.sleep(0.5)
    pos.screenshot(OUT / "pos_partial_remainder.png")
    if display:
        display.send("Page.bringToFront")
        display.wait("document.querySelector('.centrapay-customer-due')", timeout=30)
        time.sleep(0.5)
        display.screenshot(OUT / "customer_display_partial.png")
        pos.send("Page.bringToFront")
    pos.click(".modal .modal-footer .btn-primary")
    pos.click(".payment-screen .back-button")
    click_text(pos, ".control-buttons button", "Actions")
    click_text(pos, "button", "Cancel Order")
    pos.click(".modal .modal-footer .btn-primary")
    # "... goes back to the customer: Odoo refunds it shortly."
    gone = "document.querySelector('.modal .modal-body')"
    pos.wait(f"{gone} && {gone}.textContent.includes('goes back')", timeout=30)
    pos.click(".modal .modal-footer .btn-primary")
    pos.wait("document.querySelector('.product-screen article.product')")


def condition_flow(pos):
    """A photo-ID check: Centrapay's message, Accept and Decline; accepted."""
    start_centrapay_payment(pos)
    type_code(pos, PHOTO_ID_CODE)
    barcode = "document.querySelector(\".centrapay-qr-dialog[data-flow='barcode']\")"
    pos.wait(f"{barcode}.dataset.payUrl")
    patron(pos.js(f"{barcode}.dataset.payUrl"), "approve")
    pos.wait(
        "document.querySelector('.centrapay-qr-dialog .centrapay-condition-accept')",
        timeout=30,
    )
    time.sleep(0.5)
    pos.screenshot(OUT / "pos_condition_prompt.png")
    pos.click(".centrapay-qr-dialog .centrapay-condition-accept")
    pos.wait("document.querySelector('.receipt-screen')", timeout=30)
    next_order(pos)


def qr_flow(pos, display, args):
    """The QR Code Flow, a refund, and the reconciliation (the first screenshots)."""
    pay_url = start_centrapay_payment(pos)
    time.sleep(1)
    pos.screenshot(OUT / "pos_qr_screen.png")
    if display:
        time.sleep(2)
        display.screenshot(OUT / "customer_display.png")
        pos.send("Page.bringToFront")
    patron = pos.browser.page()
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


FLOWS = ("barcode", "partial", "condition", "qr")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8069")
    parser.add_argument("--pos-path", required=True)
    parser.add_argument(
        "--display-path",
        help="the customer display's path, /pos_customer_display/<config>/<token>",
    )
    parser.add_argument(
        "--flows",
        nargs="+",
        choices=FLOWS,
        default=list(FLOWS),
        help="which flows to take (all by default; qr last, as it ends in the "
        "back office)",
    )
    args = parser.parse_args()
    # A free debugging port: another tool may run a browser at the same time.
    browser = Browser(port=0)
    try:
        pos = browser.page()
        pos.browser = browser
        login_and_open_pos(pos, args.base_url, args.pos_path)
        display = None
        if args.display_path:
            # The customer display, in the same browser: it follows the POS.
            display = browser.page()
            display.goto(f"{args.base_url}{args.display_path}")
            time.sleep(3)
        pos.send("Page.bringToFront")
        for flow in sorted(args.flows, key=FLOWS.index):
            if flow == "barcode":
                barcode_flow(pos)
            elif flow == "partial":
                partial_flow(pos, display)
            elif flow == "condition":
                condition_flow(pos)
            else:
                qr_flow(pos, display, args)
    finally:
        browser.close()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()

"""A tiny Chrome DevTools Protocol driver for headless Chromium (demo tooling).

Used by ``demo_screenshots.py`` and ``bench_paid_to_pos.py`` against a running
``tools/dev.py demo``; needs ``websocket-client`` (in the Odoo virtualenv).
"""

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,768",
]


class Browser:
    """One headless Chromium; ``page()`` opens a tab to drive.

    ``port=0`` lets Chromium pick a free debugging port (read back from its
    profile), so that two tools can run at once.
    """

    def __init__(self, port=9333):
        self.port = port
        self.profile = tempfile.mkdtemp(prefix="pcp-chrome-")
        self.proc = subprocess.Popen(
            [
                shutil.which("chromium"),
                *FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if not self.port:
                    active = Path(self.profile) / "DevToolsActivePort"
                    self.port = int(active.read_text().split()[0])
                self._json("/json/version")
                return
            except (OSError, ValueError, IndexError):
                time.sleep(0.1)
        raise RuntimeError("Chromium did not start")

    def _json(self, path, method="GET"):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def targets(self):
        """Every debuggable target: pages, and workers (``type``, ``url``)."""
        return self._json("/json/list")

    def page(self):
        target = self._json("/json/new?about:blank", method="PUT")
        return Page(target["webSocketDebuggerUrl"])

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        # Chromium's helper processes may still write into the profile for a moment.
        for _ in range(10):
            shutil.rmtree(self.profile, ignore_errors=True)
            time.sleep(0.2)
            if not Path(self.profile).exists():
                return


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.ids = itertools.count(1)
        # Events of the domains a caller enabled (e.g. Network), as they arrive
        # while commands wait for their replies: (wall time, method, params).
        self.events = []

    def send(self, method, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if "method" in reply and "id" not in reply:
                self.events.append((time.time(), reply["method"], reply["params"]))
                continue
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def js(self, expression):
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(
                f"JS error in {expression!r}: {result['exceptionDetails']}"
            )
        return result["result"].get("value")

    def goto(self, url):
        self.send("Page.navigate", url=url)
        time.sleep(0.5)
        self.wait("document.readyState === 'complete'")

    def wait(self, condition, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.js(f"Boolean({condition})"):
                return
            time.sleep(0.05)
        raise TimeoutError(condition)

    def click(self, selector, timeout=30):
        self.wait(f"document.querySelector({json.dumps(selector)})", timeout)
        self.js(f"document.querySelector({json.dumps(selector)}).click()")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def login_and_open_pos(page, base_url, pos_path, login="admin", password="admin"):
    """Log in, open the POS and its register; leave it on the product screen."""
    page.goto(f"{base_url}/web/login")
    page.js(
        f"document.querySelector('input[name=login]').value = {json.dumps(login)};"
        "document.querySelector('input[name=password]').value = "
        f"{json.dumps(password)};"
        "document.querySelector('form.oe_login_form').submit();"
    )
    # Logged in once the login page is gone (a cold server takes a few seconds).
    page.wait("location.pathname !== '/web/login'", timeout=60)
    page.goto(f"{base_url}{pos_path}")
    page.wait(
        "document.querySelector('.open-register-btn, .product-screen')", timeout=60
    )
    if page.js("Boolean(document.querySelector('.open-register-btn'))"):
        page.click(".open-register-btn")
        try:  # the opening-cash dialog only shows for a session not opened yet
            page.click(".modal .modal-footer .btn-primary", timeout=5)
        except TimeoutError:
            pass
    page.wait("document.querySelector('.product-screen article.product')", timeout=60)


def start_centrapay_payment(page):
    """Sell one product and pick Centrapay; return the QR's pay URL."""
    page.click(".product-screen article.product")
    page.click(".product-screen .pay-order-button")
    page.wait("document.querySelector('.payment-screen')")
    try:  # with Centrapay as the only method, the POS starts it by itself
        page.wait("document.querySelector('.centrapay-qr-dialog')", timeout=3)
    except TimeoutError:
        page.js(
            "[...document.querySelectorAll('.paymentmethod')]"
            ".find(e => e.textContent.includes('Centrapay')).click()"
        )
    page.wait("document.querySelector('.centrapay-qr-dialog[data-pay-url]')")
    return page.js("document.querySelector('.centrapay-qr-dialog').dataset.payUrl")

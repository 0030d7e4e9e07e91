#!/usr/bin/env python3
"""Fault soak: many tills take Centrapay payments while everything goes wrong.

Against a running demo (``tools/dev.py demo``, plain or ``--workers N`` /
``--servers N``), with the same ``POS_CENTRAPAY_CACHE`` as the demo: the soak
reads the demo's ``demo.json`` (``<cache>/topology-<port>/``), then

* **accounts**: Centrapay counts its 200 requests a minute per account, and the
  addon keeps each account under that, so one account takes at most about 50
  payments a minute. The soak spreads its tills over ``--accounts`` sandbox
  merchant accounts (``POST /_sandbox/accounts``), each with its own journal,
  ``pos.payment.method`` (expiry ``--expiry``) and POS config, whose session it
  opens, all made over JSON-RPC as the admin. Those of an earlier soak on the
  same demo are reused when the sandbox still knows them.
* **tills** (threads, each with its own Odoo session) call what the POS calls
  (``static/src/app/payment/payment_centrapay.js``): ``centrapay_create_request``
  (a refused create is retried twice with the same payment line, as a cashier
  pressing *Retry*), then ``centrapay_get_status`` every 2 s until the status is
  final; at expiry + ``pos_timeout_seconds`` one ``centrapay_cancel_request``,
  whose final answer is taken as the truth. Scenarios: the patron pays
  (sandbox control ``pay``), the cashier cancels (retried every 5 s until its
  answer is final, as a cashier told "not confirmed yet"), the patron pays and
  the cashier cancels at nearly the same moment (a race), and nobody does
  anything (expiry). What the till saw last is "what the POS thinks".
* **faults**: every ``--fault-every`` seconds a one-shot sandbox fault on a
  random endpoint (create, read, void, activities, feed, lookup by reference):
  5xx, timeout (longer than the client's read timeout), drop,
  commit_then_drop, malformed body, HTML error page, 429. Webhooks are
  delivered twice and out of order (``duplicate``, ``reorder``).
* ``--kill-odoo``: once ``--kill-at`` of the payments were started, one Odoo
  server is SIGKILLed (with ``--servers N``: its whole process group, master,
  workers, cron worker and gevent process, by default the one whose cron worker
  last started the status job) and the demo starts it again ``--kill-down``
  seconds later (``dev.py``'s restart request: a file the demo watches).
* ``--outage S``: once ``--outage-at`` of the payments were started, the sandbox
  is stopped (SIGTERM: it saves its state) and the demo starts it again with
  the same command, state file and port S seconds later.
* afterwards, bounded by ``--settle``: waits until no request is pending, in
  Odoo and at the sandbox, then checks the tills' view against the sandbox's
  own records (``GET /_sandbox/payment-requests``: every request's status and
  the sums of its payment and refund activities), the truth:

  1. no money taken (paid - refunded > 0) for a line the POS thinks unpaid, or
     for a request no till or Odoo knows;
  2. no line charged twice (two requests of one line, or one request paid
     twice);
  3. every line the POS thinks paid is paid, and not refunded, at Centrapay;
  4. nothing left pending: at the sandbox, in Odoo, or at a till (a till that
     never saw a final status).

It prints a summary (payments attempted, paid, cancelled, expired; faults by
kind; violations with each request's events, Odoo's record and log lines; calls
per payment; 429s; wall time) and exits 1 on any violation, 2 when nothing was
paid or the run stopped at ``--max-minutes`` before its payments were made.
Every loop is bounded; only 127.0.0.1 is contacted. Run it with the Odoo
virtualenv's Python (the sandbox package needs PyJWT and cryptography), with
the demo's ``POS_CENTRAPAY_CACHE`` if it was set::

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/soak.py --port 8069 \\
        --payments 100 --odoo-log /tmp/demo.log
    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/soak.py --port 18269 \\
        --payments 10000 --accounts 10 --kill-odoo --outage 60 --max-minutes 62

(``--odoo-log``: where the plain demo's output goes, for the log lines of a
violation; the topology's logs are found from ``topology.json``.)
"""

import argparse
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from dev import restart_request, topology_dir
from odoo_rpc import Offline, Rpc, RpcError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from centrapay.sandbox.control import (  # noqa: E402
    SandboxControl,
    SandboxControlError,
)

MODULE = "pos_centrapay"
FINAL = ("paid", "cancelled", "expired", "error")
PENDING = ("draft", "new")
# The give-back window of payments the till abandoned (models/centrapay_engine.py).
GIVE_BACK_PARAM = "pos_centrapay.abandoned_after_seconds"
GIVE_BACK_SECONDS = 30
POLL_SECONDS = 2.0  # the POS's fallback poll
CREATE_RETRIES = 2  # a cashier pressing Retry after a refused create
CANCEL_RETRY_SECONDS = 5.0
CANCEL_TRIES = 4
GIVE_UP_SECONDS = 600  # const.GIVE_UP_AFTER_SECONDS: the engine's own bound
METHOD_PREFIX = "Centrapay soak"
SCENARIOS = {"pay": 0.6, "cancel": 0.15, "race": 0.2, "expire": 0.05}
# One-shot faults: (endpoint, HTTP method, path regex).
ENDPOINTS = (
    ("create", "POST", r"^/api/payment-requests$"),
    ("read", "GET", r"^/api/payment-requests/[^/]+$"),
    ("void", "POST", r"^/api/payment-requests/[^/]+/void$"),
    ("activities", "GET", r"^/api/payment-requests/[^/]+/activities$"),
    ("feed", "GET", r"^/api/payment-activities$"),
    ("lookup", "GET", r"^/api/payment-requests/external-ref/"),
)
FAULT_KINDS = (
    "status",
    "timeout",
    "drop",
    "commit_then_drop",
    "malformed",
    "html",
    "rate_limit",
)
MAX_OUTSTANDING_FAULTS = 12


def say(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- JSON-RPC -------------------------------------------------------------------------


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(check, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def epoch(value):
    """A sandbox timestamp (ISO-8601, ``Z``) as epoch seconds."""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


# --- The demo and its accounts --------------------------------------------------------


class Demo:
    """The running demo: its description, the admin's session, the soak accounts."""

    def __init__(self, args):
        self.args = args
        self.dir = topology_dir(args.port)
        path = self.dir / "demo.json"
        if not path.exists():
            raise SystemExit(
                f"no {path}: start the demo (tools/dev.py demo --port {args.port}) "
                "with the same POS_CENTRAPAY_CACHE"
            )
        self.info = json.loads(path.read_text())
        for url in (self.info["base_url"], self.info["sandbox_url"]):
            if urlsplit(url).hostname != "127.0.0.1":
                raise SystemExit(f"{url}: the soak only targets 127.0.0.1")
        topo = self.dir / "topology.json"
        self.topology = json.loads(topo.read_text()) if self.info["topology"] else None
        self.control = SandboxControl(self.info["sandbox_url"], timeout=30)
        self.admin = Rpc(self.info["base_url"], self.info["db"])
        self.admin.login()
        company = self.admin.call(
            "ir.model.data",
            "search_read",
            [("module", "=", MODULE), ("name", "=", "res_company_centrapay_cafe")],
            ["res_id"],
        )
        self.company_id = company[0]["res_id"]
        self.context = {"allowed_company_ids": [self.company_id]}
        self.admin.context = self.context

    def reload(self):
        self.info = json.loads((self.dir / "demo.json").read_text())
        if self.info["topology"]:
            self.topology = json.loads((self.dir / "topology.json").read_text())

    def sandbox_port(self):
        return urlsplit(self.info["sandbox_url"]).port

    # -- accounts ------------------------------------------------------------------

    def accounts(self, count, expiry):
        """``count`` soak accounts: reused when the sandbox still knows them."""
        known = {a["merchant_id"] for a in self.control.accounts()}
        methods = self.admin.call(
            "pos.payment.method",
            "search_read",
            [
                ("name", "=like", f"{METHOD_PREFIX} %"),
                ("use_payment_terminal", "=", "centrapay"),
                ("company_id", "=", self.company_id),
            ],
            [
                "name",
                "centrapay_merchant_id",
                "centrapay_merchant_account_id",
                "centrapay_base_url",
                "centrapay_expiry_seconds",
                "config_ids",
            ],
            order="id",
        )
        accounts = []
        for method in methods:
            if (
                method["centrapay_merchant_id"] in known
                and method["centrapay_base_url"] == self.info["sandbox_url"]
                and method["centrapay_expiry_seconds"] == expiry
                and len(method["config_ids"]) == 1
                and len(accounts) < count
            ):
                accounts.append(
                    {
                        "name": method["name"],
                        "method_id": method["id"],
                        "config_id": method["config_ids"][0],
                        "merchant_id": method["centrapay_merchant_id"],
                        "account_id": method["centrapay_merchant_account_id"],
                    }
                )
        if accounts:
            say(f"reusing {len(accounts)} soak accounts of an earlier run")
        while len(accounts) < count:
            accounts.append(self._new_account(expiry, len(methods) + len(accounts)))
        for account in accounts:
            account["session_id"] = self._open_session(account["config_id"])
        return accounts

    def _new_account(self, expiry, index):
        creds = self.control.add_account(f"Soak merchant {index + 1}")
        name = f"{METHOD_PREFIX} {creds['merchant_id'][:8]}"
        codes = {
            j["code"]
            for j in self.admin.call(
                "account.journal",
                "search_read",
                [("company_id", "=", self.company_id)],
                ["code"],
            )
        }
        code = next(f"CS{n:03d}" for n in range(1000) if f"CS{n:03d}" not in codes)
        journal = self.admin.call(
            "account.journal",
            "create",
            {
                "name": name,
                "code": code,
                "type": "bank",
                "company_id": self.company_id,
            },
        )
        method = self.admin.call(
            "pos.payment.method",
            "create",
            {
                "name": name,
                "journal_id": journal,
                "payment_method_type": "terminal",
                "use_payment_terminal": "centrapay",
                "centrapay_environment": "sandbox",
                "centrapay_base_url": creds["base_url"],
                "centrapay_api_key": creds["api_key"],
                "centrapay_merchant_config_id": creds["merchant_config_id"],
                "centrapay_merchant_id": creds["merchant_id"],
                "centrapay_merchant_account_id": creds["merchant_account_id"],
                "centrapay_webhook_enabled": True,
                "centrapay_expiry_seconds": expiry,
                "company_id": self.company_id,
            },
        )
        config = self.admin.call(
            "pos.config",
            "create",
            {
                "name": name,
                "company_id": self.company_id,
                "payment_method_ids": [(6, 0, [method])],
            },
        )
        say(f"new account {creds['merchant_id']}: method {method}, POS {config}")
        return {
            "name": name,
            "method_id": method,
            "config_id": config,
            "merchant_id": creds["merchant_id"],
            "account_id": creds["merchant_account_id"],
        }

    def _open_session(self, config_id):
        def find():
            return self.admin.call(
                "pos.session",
                "search_read",
                [
                    ("config_id", "=", config_id),
                    ("state", "in", ["opening_control", "opened"]),
                ],
                ["state"],
            )

        sessions = find()
        if not sessions:
            self.admin.call("pos.config", "open_ui", [config_id])
            sessions = find()
        session = sessions[0]
        if session["state"] == "opening_control":
            self.admin.call(
                "pos.session", "set_opening_control", [session["id"]], 0, ""
            )
        return session["id"]


# --- One payment at a till ------------------------------------------------------------


class Line:
    """One payment line: what the till did and saw, with times (s from the start)."""

    def __init__(self, soak, index, account, scenario):
        self.soak = soak
        self.index = index
        self.account = account
        self.scenario = scenario
        self.uuid = str(uuid.uuid4())
        self.amount = round(random.uniform(1, 99), 2)
        self.cents = round(self.amount * 100)
        self.centrapay_ids = []
        self.pos_status = None  # the final status the till saw; None: none
        self.final_by = None
        self.events = []
        self.lock = threading.Lock()

    def event(self, what):
        with self.lock:
            self.events.append((round(time.time() - self.soak.t0, 3), what))


class Till(threading.Thread):
    def __init__(self, soak, index, account):
        super().__init__(daemon=True, name=f"till-{index}")
        self.soak = soak
        self.index = index
        self.account = account
        self.device_id = str(uuid.uuid4())
        self.rpc = None

    def run(self):
        soak = self.soak
        try:
            self.rpc = Rpc(soak.demo.info["base_url"], soak.demo.info["db"])
            self.rpc.context = soak.demo.context
            if not self.login():
                say(f"till {self.index} could not log in: it takes no payments")
                soak.count("till could not log in")
                return
            soak.stop.wait(random.uniform(0, 10))  # the tills open one by one
            while not soak.stop.is_set():
                line = soak.next_line(self.account)
                if line is None:
                    return
                self.pay(line)
                soak.stop.wait(random.uniform(0.5, 2.0))  # the next sale
        except Exception as exc:  # noqa: BLE001 (a broken till is reported)
            soak.count("till crashed")
            say(f"till {self.index} crashed: {exc!r}")

    def login(self, seconds=120):
        """Log in, trying again for a while (nginx may answer 502 under load)."""
        deadline = time.monotonic() + seconds
        while not self.soak.hard_stop.is_set():
            try:
                self.rpc.cookie = None
                self.rpc.login()
                return True
            except (Offline, RpcError):
                if time.monotonic() > deadline:
                    return False
                self.soak.hard_stop.wait(random.uniform(1, 3))
        return False

    def call(self, line, method, *args):
        """An RPC as the POS makes it; None when it failed (offline or error)."""
        self.soak.count(f"rpc {method}")
        try:
            return self.rpc.call(
                "pos.payment.method", method, [self.account["method_id"]], *args
            )
        except Offline as exc:
            self.soak.count("rpc offline")
            line.event(f"{method}: offline {exc}"[:200])
        except RpcError as exc:
            self.soak.count(f"rpc error {str(exc)[:60]}")
            line.event(f"{method}: error {exc}"[:300])
            if "SessionExpired" in str(exc):
                # The POS sends the cashier to the login page; they log in again.
                self.soak.count("till logged in again")
                self.login()
        return None

    def pay(self, line):
        state = self.create(line)
        if state is None:
            line.pos_status = "create failed"
            line.final_by = "create"
            return
        if state.get("final"):
            self.settle(line, state, "create")
            return
        shown = time.time()
        timeout_at = (
            shown
            + (state.get("expires_in") or 0)
            + (state.get("pos_timeout_seconds") or 7)
        )
        line.event(
            f"QR shown {state['centrapay_id']} expires_in={state.get('expires_in')}"
        )
        cancel_at = None
        if line.scenario in ("pay", "race"):
            pay_delay = random.uniform(1, 6)
            if line.scenario == "race":
                # Pay and cancel at nearly the same moment, either first.
                cancel_at = shown + pay_delay
                pay_delay += random.uniform(-0.15, 0.15)
            self.soak.patron(line, state["centrapay_id"], pay_delay)
        elif line.scenario == "cancel":
            cancel_at = shown + random.uniform(2, 8)
        self.wait_final(line, state["centrapay_id"], timeout_at, cancel_at)

    def create(self, line):
        soak = self.soak
        data = {
            "amount": line.amount,
            "payment_uuid": line.uuid,
            "order_uuid": str(uuid.uuid4()),
            "order_name": f"Soak {soak.run_id}-{line.index}",
            "session_id": self.account["session_id"],
            "device_id": self.device_id,
            "line_items": [{"name": "Soak coffee", "qty": 1, "price": line.amount}],
        }
        for attempt in range(1 + CREATE_RETRIES):
            if attempt:
                soak.count("create retried")
                time.sleep(random.uniform(1, 3))  # the cashier reads, then retries
            state = self.call(line, "centrapay_create_request", data)
            if state and not state.get("error") and state.get("centrapay_id"):
                line.centrapay_ids.append(state["centrapay_id"])
                line.event(f"create -> {state['centrapay_id']} {state['status']}")
                return state
            if state and state.get("error"):
                soak.count(f"create refused: {str(state['error'])[:70]}")
                line.event(f"create refused: {state['error']}"[:300])
        return None

    def wait_final(self, line, centrapay_id, timeout_at, cancel_at):
        """Poll every 2 s; cancel at ``cancel_at`` and at the POS timeout."""
        session = self.account["session_id"]
        next_poll = time.time() + POLL_SECONDS
        timeout_done = False
        cancel_tries = 0
        give_up = timeout_at + GIVE_UP_SECONDS + 120
        while True:
            now = time.time()
            if now >= give_up or self.soak.hard_stop.is_set():
                line.event("the till never saw a final status")
                return
            if cancel_at is not None and now >= cancel_at:
                cancel_tries += 1
                state = self.call(
                    line, "centrapay_cancel_request", centrapay_id, session
                )
                line.event(f"cashier cancel -> {self.brief(state)}")
                if state and not state.get("error") and state.get("final"):
                    self.settle(line, state, "cashier cancel")
                    return
                cancel_at = (
                    now + CANCEL_RETRY_SECONDS if cancel_tries < CANCEL_TRIES else None
                )
            if not timeout_done and now >= timeout_at:
                timeout_done = True
                state = self.call(
                    line, "centrapay_cancel_request", centrapay_id, session
                )
                line.event(f"POS timeout cancel -> {self.brief(state)}")
                if state and not state.get("error") and state.get("final"):
                    self.settle(line, state, "timeout cancel")
                    return
            if now >= next_poll:
                next_poll = now + POLL_SECONDS
                state = self.call(line, "centrapay_get_status", centrapay_id, session)
                if state and not state.get("error") and state.get("final"):
                    self.settle(line, state, "poll")
                    return
            wake = min(
                t
                for t in (next_poll, cancel_at, None if timeout_done else timeout_at)
                if t is not None
            )
            self.soak.hard_stop.wait(max(0.0, min(wake - time.time(), POLL_SECONDS)))

    @staticmethod
    def brief(state):
        if state is None:
            return "failed"
        if state.get("error"):
            return f"error {state['error']}"[:200]
        return state.get("status")

    def settle(self, line, state, how):
        line.pos_status = state["status"]
        line.final_by = how
        line.event(f"final {state['status']} by {how}")


# --- The soak -------------------------------------------------------------------------


class Soak:
    def __init__(self, args):
        self.args = args
        self.run_id = uuid.uuid4().hex[:6]
        self.demo = Demo(args)
        self.control = self.demo.control
        self.stop = threading.Event()  # no new payments
        self.hard_stop = threading.Event()  # tills stop waiting too
        self.lines = []
        self.lines_lock = threading.Lock()
        self.counts = Counter()
        self.counts_lock = threading.Lock()
        self.faults = Counter()
        self.timeline = []
        self.patrons = []
        self.stats_before_restart = Counter()
        self.t0 = time.time()

    def count(self, what, n=1):
        with self.counts_lock:
            self.counts[what] += n

    def mark(self, what):
        self.timeline.append((round(time.time() - self.t0, 1), what))
        say(what)

    # -- payments ------------------------------------------------------------------

    def next_line(self, account):
        if self.stop.is_set():
            return None
        with self.lines_lock:
            if len(self.lines) >= self.args.payments:
                return None
            if time.time() > self.t0 + self.args.max_minutes * 60:
                if not self.stop.is_set():
                    self.mark("--max-minutes reached: no new payments")
                self.stop.set()
                return None
            scenario = random.choices(list(SCENARIOS), list(SCENARIOS.values()))[0]
            line = Line(self, len(self.lines) + 1, account, scenario)
            self.lines.append(line)
            return line

    def patron(self, line, centrapay_id, delay):
        def pay():
            line.event(f"patron pays {centrapay_id}")
            try:
                self.control.pay(centrapay_id)
                line.event("patron paid")
                self.count("patron paid")
            except SandboxControlError as exc:
                message = exc.body.get("message") if isinstance(exc.body, dict) else ""
                line.event(f"patron refused: {message or exc.status}")
                self.count(f"patron refused {message or exc.status}")
            except OSError as exc:
                line.event(f"patron could not reach Centrapay: {exc}"[:200])
                self.count("patron could not reach Centrapay")

        timer = threading.Timer(max(0.0, delay), pay)
        timer.daemon = True
        self.patrons.append(timer)
        timer.start()

    # -- faults, kill, outage ------------------------------------------------------

    def inject_faults(self):
        while not self.stop.wait(self.args.fault_every * random.uniform(0.5, 1.5)):
            endpoint, method, regex = random.choice(ENDPOINTS)
            kind = random.choice(FAULT_KINDS)
            spec = {"kind": kind, "method": method, "pathRegex": regex, "times": 1}
            if kind == "status":
                spec["status"] = random.choice([500, 502, 503, 504])
            elif kind == "timeout":
                spec["seconds"] = 12.0  # longer than the client's 10 s read timeout
            elif kind == "malformed":
                spec["commit"] = random.random() < 0.5
            elif kind == "rate_limit":
                spec["retryAfter"] = random.randint(1, 5)
            try:
                if len(self.control.faults()) >= MAX_OUTSTANDING_FAULTS:
                    continue
                self.control.add_fault(**spec)
            except (OSError, SandboxControlError):
                continue  # the sandbox is down (outage)
            self.faults[f"{kind} on {endpoint}"] += 1

    def started_fraction(self):
        return len(self.lines) / self.args.payments

    def wait_for(self, fraction):
        while not self.stop.is_set() and self.started_fraction() < fraction:
            time.sleep(0.5)
        return not self.stop.is_set()

    def kill_odoo(self):
        if not self.wait_for(self.args.kill_at):
            return
        demo = self.demo
        demo.reload()
        if demo.topology:
            victim = self.pick_victim(demo.topology["servers"])
            name, pid, port = victim["name"], victim["pid"], victim["http_port"]
        else:
            name, pid, port = "odoo", demo.info["processes"]["odoo"], self.args.port
        down_until = time.time() + self.args.kill_down
        restart_request(self.args.port, name).write_text(str(down_until))
        if demo.topology:  # master, HTTP workers, cron worker, gevent process
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        self.mark(f"SIGKILL {name} (pid {pid}); restart in {self.args.kill_down:g} s")
        if not wait_until(lambda: not port_open(port), 30, 0.2):
            self.mark(f"{name} still listens 30 s after SIGKILL")
        if wait_until(lambda: port_open(port), self.args.kill_down + 240, 0.5):
            self.mark(f"{name} accepts connections again")
        else:
            self.mark(f"{name} did not come back")

    def pick_victim(self, servers):
        choice = self.args.kill_server
        if choice != "cron":
            return next(s for s in servers if s["name"] == choice)
        latest = {}
        for server in servers:
            try:
                text = Path(server["log"]).read_text(errors="replace")
            except OSError:
                text = ""
            started = [
                line[:23]
                for line in text.splitlines()
                if "Job 'Centrapay" in line and line.rstrip().endswith("starting")
            ]
            latest[server["name"]] = max(started, default="")
        return max(servers, key=lambda s: latest[s["name"]])

    def outage(self):
        if not self.wait_for(self.args.outage_at):
            return
        demo = self.demo
        demo.reload()
        pid = demo.info["processes"]["sandbox"]
        port = demo.sandbox_port()
        try:
            self.stats_before_restart.update(self.flat_stats())
        except OSError:
            pass
        down_until = time.time() + self.args.outage
        restart_request(self.args.port, "sandbox").write_text(str(down_until))
        os.kill(pid, signal.SIGTERM)
        self.mark(f"sandbox stopped (SIGTERM pid {pid}) for {self.args.outage:g} s")
        if not wait_until(lambda: not port_open(port), 60):
            self.mark("the sandbox still listens 60 s after SIGTERM")
        if wait_until(lambda: port_open(port), self.args.outage + 120, 0.5):
            self.mark("sandbox back (same state file and port)")
        else:
            self.mark("the sandbox did not come back")

    def flat_stats(self):
        stats = self.control.call_stats()
        flat = Counter({"total": stats["total"]})
        for group in ("status", "fault", "route", "rateLimited"):
            for name, count in stats[group].items():
                flat[f"{group}:{name}"] += count
        return flat

    # -- the run -------------------------------------------------------------------

    def run(self):
        args = self.args
        demo = self.demo
        self.webhook_config = self.control.webhook_config()
        accounts = demo.accounts(args.accounts, args.expiry)
        self.accounts = accounts
        self.control.set_webhook(
            self.webhook_config["url"] or f"{demo.info['base_url']}/{MODULE}/webhook",
            duplicate=True,
            reorder=True,
        )
        self.control.clear_calls()
        # Payments paid after the till cancelled are given back once no order
        # took them for this long (15 min in production): the soak waits 30 s.
        self.give_back_window = self.demo.admin.call(
            "ir.config_parameter", "get_param", GIVE_BACK_PARAM
        )
        self.demo.admin.call(
            "ir.config_parameter", "set_param", GIVE_BACK_PARAM, GIVE_BACK_SECONDS
        )
        say(f"{GIVE_BACK_PARAM} set to {GIVE_BACK_SECONDS} for the soak")
        self.sandbox_t0 = epoch(self.control.info()["now"])
        self.odoo_t0 = time.time()
        self.t0 = time.time()
        self.log_offsets = self.odoo_log_offsets()
        say(
            f"run {self.run_id}: {args.payments} payments, {args.tills} tills over "
            f"{len(accounts)} accounts, a fault every ~{args.fault_every:g} s"
        )
        helpers = [threading.Thread(target=self.inject_faults, daemon=True)]
        if args.kill_odoo:
            helpers.append(threading.Thread(target=self.kill_odoo, daemon=True))
        if args.outage:
            helpers.append(threading.Thread(target=self.outage, daemon=True))
        tills = [
            Till(self, i + 1, accounts[i % len(accounts)]) for i in range(args.tills)
        ]
        for thread in helpers + tills:
            thread.start()
        progress = threading.Thread(target=self.progress, daemon=True)
        progress.start()
        hard_deadline = self.t0 + args.max_minutes * 60 + args.settle
        for till in tills:
            till.join(max(0.0, hard_deadline - time.time()))
        self.stop.set()
        self.hard_stop.set()
        for till in tills:
            till.join(30)
        self.tills_done = time.time()
        for thread in helpers:
            thread.join(max(0.0, hard_deadline - time.time()))
        for timer in self.patrons:
            timer.join(15)
        self.mark(f"{len(self.lines)} payments made; waiting for everything to settle")
        self.control.clear_faults()
        settled = self.settle(hard_deadline)
        self.restore()
        return settled

    def progress(self):
        while not self.hard_stop.wait(30):
            done = Counter(line.pos_status for line in self.lines if line.pos_status)
            minutes = (time.time() - self.t0) / 60
            say(
                f"{len(self.lines)} started, {sum(done.values())} final "
                f"({dict(done)}), {len(self.lines) / max(minutes, 1e-9):.0f}/min"
            )

    def restore(self):
        try:
            self.control.set_webhook(**self.webhook_config)
        except (OSError, SandboxControlError) as exc:
            say(f"could not restore the webhook settings: {exc}")
        try:
            self.demo.admin.call(
                "ir.config_parameter",
                "set_param",
                GIVE_BACK_PARAM,
                getattr(self, "give_back_window", False),
            )
        except (Offline, RpcError, OSError) as exc:
            say(f"could not restore {GIVE_BACK_PARAM}: {exc!r}")

    def soak_method_ids(self):
        return [a["method_id"] for a in self.accounts]

    def odoo_requests(self):
        return self.demo.admin.call(
            "centrapay.payment.request",
            "search_read",
            [
                ("payment_method_id", "in", self.soak_method_ids()),
                (
                    "create_date",
                    ">=",
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.t0 - 2)),
                ),
            ],
            [
                "centrapay_id",
                "external_ref",
                "status",
                "pos_payment_uuid",
                "amount",
                "refunded_by_void",
                "cancellation_reason",
                "last_error",
                "void_requested",
                "pos_payment_id",
                "pos_told_paid",
                "refunded_amount",
            ],
        )

    @staticmethod
    def abandoned(odoo):
        """Requests the cashier cancelled that were paid anyway, no till told so
        and no order taking them: (given back, not yet). Odoo refunds them once
        the window passed."""
        cases = [
            r
            for r in odoo
            if r["void_requested"]
            and r["status"] == "paid"
            and not r["pos_payment_id"]
            and not r["pos_told_paid"]
        ]
        given = [r for r in cases if r["refunded_amount"] >= r["amount"]]
        return given, [r for r in cases if r not in given]

    def sandbox_requests(self):
        accounts = {a["account_id"] for a in self.accounts}
        return [
            item
            for item in self.control.money_trail()
            if item["accountId"] in accounts
            and epoch(item["createdAt"]) >= self.sandbox_t0 - 1
        ]

    def settle(self, hard_deadline):
        """Wait (bounded) until nothing is pending in Odoo or at the sandbox."""
        deadline = min(hard_deadline, time.time() + self.args.settle)
        while True:
            try:
                self.demo.admin.close()
                odoo = self.odoo_requests()
                pending_odoo = sum(1 for r in odoo if r["status"] in PENDING)
                # A payment the till abandoned is settled once Odoo gave it back.
                pending_odoo += len(self.abandoned(odoo)[1])
                pending_cp = sum(
                    1 for r in self.sandbox_requests() if r["status"] == "new"
                )
            except (Offline, RpcError, OSError) as exc:
                say(f"settle: {exc!r}")
                pending_odoo = pending_cp = -1
            if pending_odoo == 0 and pending_cp == 0:
                self.mark("settled: nothing pending in Odoo or at the sandbox")
                return True
            if time.time() >= deadline:
                self.mark(
                    f"not settled: {pending_odoo} pending in Odoo, {pending_cp} at "
                    "the sandbox"
                )
                return False
            time.sleep(5)

    # -- logs ----------------------------------------------------------------------

    def log_files(self):
        files = [Path(p) for p in self.args.odoo_log]
        if self.demo.topology:
            files += [Path(s["log"]) for s in self.demo.topology["servers"]]
        return [f for f in files if f.exists()]

    def odoo_log_offsets(self):
        return {str(f): f.stat().st_size for f in self.log_files()}

    def odoo_log_lines(self):
        """Odoo's log lines since the start that matter here (the module's, and
        errors), and how many lines there were in all."""
        kept, total = [], 0
        for path, offset in self.log_offsets.items():
            with open(path, "rb") as log:
                log.seek(offset)
                for raw in log:
                    total += 1
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    if (
                        MODULE in line
                        or " ERROR " in line
                        or " CRITICAL " in line
                        or line.startswith("ERROR:")
                    ):
                        kept.append(line)
        return kept, total


# --- The check ------------------------------------------------------------------------


def check(soak):
    """The invariants, against the sandbox's own records. Returns the report."""
    odoo = soak.odoo_requests()
    trail = soak.sandbox_requests()
    lines = {line.uuid: line for line in soak.lines}
    by_ref = {r["external_ref"]: r for r in odoo}
    by_cp = {r["centrapay_id"]: r for r in odoo if r["centrapay_id"]}
    truth = {t["id"]: t for t in trail}
    violations = []

    def violation(kind, line, request_ids, detail):
        violations.append(
            {"kind": kind, "line": line, "requests": request_ids, "detail": detail}
        )

    charged = defaultdict(list)  # line uuid -> requests with money kept
    for item in trail:
        net = item["paid"] - item["refunded"]
        record = by_ref.get(item["externalRef"]) or by_cp.get(item["id"])
        line = lines.get(record["pos_payment_uuid"]) if record else None
        if item["status"] == "new":
            violation("pending at Centrapay", line, [item["id"]], item["status"])
        if net <= 0:
            continue
        if item["paid"] > item["amount"]:
            violation("one request paid twice", line, [item["id"]], item)
        if line is None:
            violation("money taken for a request no till knows", None, [item["id"]], "")
            continue
        charged[line.uuid].append(item["id"])
        if line.pos_status != "paid":
            violation(
                "money taken, the POS thinks unpaid",
                line,
                [item["id"]],
                f"POS: {line.pos_status}; paid {item['paid']}, refunded "
                f"{item['refunded']}",
            )
    for uuid_, ids in charged.items():
        if len(ids) > 1:
            violation("line charged twice", lines[uuid_], ids, "")
    for line in soak.lines:
        if line.pos_status is None:
            violation("the till never saw a final status", line, line.centrapay_ids, "")
        if line.pos_status != "paid":
            continue
        paid_id = line.centrapay_ids[-1] if line.centrapay_ids else None
        item = truth.get(paid_id)
        if (
            item is None
            or item["status"] != "paid"
            or item["paid"] - item["refunded"] != line.cents
        ):
            violation(
                "the POS thinks paid, Centrapay does not",
                line,
                [paid_id],
                item and {k: item[k] for k in ("status", "paid", "refunded", "amount")},
            )
    for record in odoo:
        if record["status"] in PENDING:
            line = lines.get(record["pos_payment_uuid"])
            violation(
                "pending in Odoo", line, [record["centrapay_id"]], record["status"]
            )
    orphans = [
        t for t in trail if t["externalRef"] not in by_ref and t["id"] not in by_cp
    ]
    given_back, not_yet = soak.abandoned(odoo)
    return {
        "given_back": given_back,
        "not_given_back": not_yet,
        "violations": violations,
        "odoo": odoo,
        "trail": trail,
        "orphans": orphans,
        "odoo_disagrees": [
            (line.index, line.pos_status, by_cp[line.centrapay_ids[-1]]["status"])
            for line in soak.lines
            if line.pos_status in FINAL
            and line.centrapay_ids
            and line.centrapay_ids[-1] in by_cp
            and by_cp[line.centrapay_ids[-1]]["status"] != line.pos_status
        ],
    }


# --- The report -----------------------------------------------------------------------


def table(rows):
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def report(soak, result, settled, wall):
    lines = soak.lines
    outcome = Counter(line.pos_status or "never final" for line in lines)
    stats = soak.stats_before_restart.copy()
    try:
        stats.update(soak.flat_stats())
    except OSError as exc:
        say(f"no call counts: {exc}")
    made = len(lines)
    http_429 = stats["status:429"]
    injected_429 = stats["fault:rate_limit"]
    minutes = (soak.tills_done - soak.t0) / 60
    rows = [
        ("payments attempted", made),
        ("  paid (as the POS saw it)", outcome["paid"]),
        ("  cancelled", outcome["cancelled"]),
        ("  expired", outcome["expired"]),
        ("  failed (error)", outcome["error"]),
        ("  create refused or failed", outcome["create failed"]),
        ("  never final", outcome["never final"]),
        ("scenarios", dict(Counter(line.scenario for line in lines))),
        ("settled by", dict(Counter(line.final_by for line in lines))),
        ("accounts / tills", f"{len(soak.accounts)} / {soak.args.tills}"),
        ("faults injected", sum(soak.faults.values())),
        (
            "  by kind",
            dict(Counter(k.split(" on ")[0] for k in soak.faults.elements())),
        ),
        (
            "  by endpoint",
            dict(Counter(k.split(" on ")[1] for k in soak.faults.elements())),
        ),
        (
            "  applied (sandbox)",
            {
                k.split(":", 1)[1]: v
                for k, v in stats.items()
                if k.startswith("fault:") and k != "fault:none"
            },
        ),
        ("webhooks", "duplicate and reordered"),
        ("Centrapay calls", stats["total"]),
        ("calls per payment", f"{stats['total'] / max(made, 1):.2f}"),
        ("calls by route", {k[6:]: v for k, v in stats.items() if k[:6] == "route:"}),
        (
            "429s",
            f"{http_429} ({injected_429} injected, {http_429 - injected_429} from "
            "the rate limit)",
        ),
        ("dropped answers", stats["status:dropped"]),
        ("timeline", soak.timeline),
        ("requests at Centrapay", len(result["trail"])),
        ("  unknown to Odoo (orphans)", len(result["orphans"])),
        (
            "paid after the till cancelled",
            f"{len(result['given_back'])} given back by Odoo, "
            f"{len(result['not_given_back'])} not yet",
        ),
        ("Odoo's status differs from the POS's", len(result["odoo_disagrees"])),
        ("settled", settled),
        ("payments started per minute", f"{made / max(minutes, 1e-9):.1f}"),
        ("wall time", f"{wall:.0f} s ({minutes:.1f} min of payments)"),
        ("INVARIANT VIOLATIONS", len(result["violations"])),
    ]
    print(table(rows))
    if result["odoo_disagrees"]:
        print(f"  Odoo differs (line, POS, Odoo): {result['odoo_disagrees'][:20]}")
    if result["orphans"]:
        kinds = Counter(
            (o["status"], o["paid"], o["refunded"]) for o in result["orphans"]
        )
        print(f"  orphans (status, paid, refunded): {dict(kinds)}")
    odd = {k: v for k, v in soak.counts.items() if not k.startswith("rpc centrapay")}
    print(f"  till and patron counts: {dict(sorted(odd.items()))}")
    log, total = soak.odoo_log_lines()
    errors = [line for line in log if " ERROR " in line or " CRITICAL " in line]
    warnings = [line for line in log if " WARNING " in line]
    print(
        f"  Odoo log: {len(errors)} ERROR, {len(warnings)} WARNING lines from or "
        f"about {MODULE} or errors, {total} lines in all"
    )
    causes = Counter(line for line in log if line.startswith("ERROR:"))
    print(f"    database errors: {dict(causes)}")
    for line in sorted({e.split(" ", 4)[-1][:160] for e in errors})[:8]:
        print(f"    {line}")
    for number, item in enumerate(result["violations"][:20], 1):
        describe_violation(number, item, result, log)


def describe_violation(number, item, result, log):
    line = item["line"]
    print(f"\nVIOLATION {number}: {item['kind']}: requests {item['requests']}")
    if item["detail"]:
        print(f"  {item['detail']}")
    if line is not None:
        print(
            f"  line {line.index} ({line.scenario}, {line.amount:.2f}, account "
            f"{line.account['merchant_id']}), the POS saw: {line.pos_status}"
        )
        for at, what in line.events:
            print(f"    +{at:8.3f} s  {what}")
    trail = {t["id"]: t for t in result["trail"]}
    odoo = {r["centrapay_id"]: r for r in result["odoo"] if r["centrapay_id"]}
    for request_id in item["requests"]:
        if request_id in trail:
            print(f"  Centrapay {request_id}: {trail[request_id]}")
        if request_id in odoo:
            print(f"  Odoo {request_id}: {odoo[request_id]}")
            tags = (request_id, f"request {odoo[request_id]['id']} ")
            for log_line in [entry for entry in log if any(t in entry for t in tags)][
                :30
            ]:
                print(f"    log: {log_line[:300]}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8069, help="the demo's --port")
    parser.add_argument("--payments", type=int, default=100)
    parser.add_argument(
        "--accounts", type=int, default=2, help="Centrapay accounts (payment methods)"
    )
    parser.add_argument("--tills", type=int, help="default: 6 per account")
    parser.add_argument(
        "--expiry", type=int, default=60, help="the soak methods' request expiry (s)"
    )
    parser.add_argument(
        "--fault-every", type=float, default=2.0, help="seconds between faults"
    )
    parser.add_argument("--kill-odoo", action="store_true")
    parser.add_argument(
        "--kill-at", type=float, default=0.3, help="fraction of payments started"
    )
    parser.add_argument(
        "--kill-server",
        default="cron",
        help="odoo1, odoo2 ... or cron: the server whose cron worker last started "
        "the status job (with --servers N)",
    )
    parser.add_argument(
        "--kill-down", type=float, default=10, help="seconds the server stays down"
    )
    parser.add_argument(
        "--outage", type=float, default=0, help="seconds the sandbox stays down"
    )
    parser.add_argument("--outage-at", type=float, default=0.5)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=60,
        help="no new payment after this long",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=900,
        help="at most this long (s) for the tills and the engine to settle",
    )
    parser.add_argument(
        "--odoo-log",
        action="append",
        default=[],
        help="Odoo's log file (plain demo), for the violations' log lines",
    )
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    args.tills = args.tills or 6 * args.accounts
    if min(args.payments, args.accounts, args.tills) < 1:
        parser.error("--payments, --accounts and --tills must be at least 1")
    return args


def main():
    args = parse_args()
    random.seed(args.seed)
    started = time.time()
    soak = Soak(args)
    try:
        settled = soak.run()
    except KeyboardInterrupt:
        soak.stop.set()
        soak.hard_stop.set()
        soak.restore()
        raise
    result = check(soak)
    report(soak, result, settled, time.time() - started)
    if result["violations"]:
        return 1
    if not any(line.pos_status == "paid" for line in soak.lines) or (
        len(soak.lines) < args.payments
    ):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

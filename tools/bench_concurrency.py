#!/usr/bin/env python3
"""Concurrency benchmark: N tills take Centrapay payments at once.

Against a running demo (``tools/dev.py demo``: Odoo plus the sandbox), each
simulated till (a thread with its own Odoo session, logged in over JSON-RPC)
calls the RPCs the POS calls (``static/src/app/payment/payment_centrapay.js``):

* ``centrapay_create_request`` with the POS payload (amount, a fresh
  ``payment_uuid`` and ``order_uuid``, order name, the open demo session, the
  till's device id, line items). All N tills create at the same moment. A
  create answering ``{"error": ...}`` is a refusal: the cashier sees it.
* while waiting, ``centrapay_get_status`` as often as the server's last
  answer asks (its ``poll_ms``: 0 while the status engine runs, a second when
  no cron runs it), or every ``--pos-poll`` seconds if given (0: never), and
  once more when the server has the final status (the POS does so when the
  bus pushes the change).

Patrons pay at random moments spread over ``--spread`` seconds, through the
sandbox's control API. "Paid" is when that call returned; "known" is when the
request's row in Odoo's database first reads ``paid``. A watcher thread reads
the status of every pending request every 50 ms with one query. By default
it reads PostgreSQL directly (psycopg2, from the Odoo virtualenv): it then
costs the Odoo server nothing, neither an HTTP thread nor a cursor, and its
own delay does not depend on how loaded Odoo is. ``--watch rpc`` does the same
with one ``search_read`` over JSON-RPC instead (no Centrapay call either, but
20 extra RPCs a second to the server under test).

From the sandbox call log (cleared at the start of each run) it reports the
Centrapay calls per payment (every ``/api`` and ``/pay`` call Odoo made, the
patron's control-API payments excluded), the most calls in any 60 s window
(Centrapay allows 200 a minute per account) and the 429 answers.

``--webhooks off`` unsubscribes the sandbox's webhooks for the run, so only
the status engine and the tills' polls find payments; ``on`` subscribes the
demo's webhook URL. The previous subscription is restored at the end.

Webhooks need ``web.base.url`` to be the URL the sandbox posts to: Odoo checks
the token's audience against ``<web.base.url>/pos_centrapay/webhook``. A demo
on another port than 8069 may still hold ``http://localhost:8069`` there, and
then rejects every webhook (401). Odoo rewrites it when a system user logs in
(unless ``web.base.url.freeze`` is set), which the tool's admin login usually
does; with ``--webhooks on`` it also checks the value and, if it differs, sets
it to ``--url`` over JSON-RPC (``ir.config_parameter.set_param``, saying so).
A psql ``UPDATE`` would not do: Odoo caches the parameter. The
``webhook deliveries`` note under the table shows the answers (200, or 401).

Start a demo on ports of its own (its Odoo log in a file), then::

    ODOO_SRC=/path/to/odoo-18.0 python3 tools/dev.py demo \\
        --port 18169 --sandbox-port 18990 --db pcp_bench_demo > /tmp/demo.log 2>&1 &

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/bench_concurrency.py \\
        --url http://127.0.0.1:18169 --sandbox http://127.0.0.1:18990 \\
        --db pcp_bench_demo --tills 1,10,50 --webhooks off,on --odoo-log /tmp/demo.log

    # One configuration, against a demo on the default ports:
    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/bench_concurrency.py \\
        --tills 10 --webhooks off

Besides refusals, the table counts RPC errors: till calls that failed (an
HTTP 500, a JSON-RPC error such as a pool or serialization error), with their
messages under the table, as are the calls by kind, the webhook answers and,
with ``--odoo-log``, the errors, warnings and serialization retries that Odoo
logged during the run.

The figures are the sandbox's too: it saves its whole state (a JSON file,
fsynced) under one lock on every change, so it answers more slowly as a demo
accumulates requests; at 50 tills its own delays can cause timeouts, client
retries and 429s. The "sandbox answer times" note shows how slow it was.

A real network, a chain of stores, no cron worker:

* ``--rtt MS`` puts a TCP proxy (in this process, on 127.0.0.1) between Odoo and
  the sandbox for the runs: it holds each chunk MS/2 in each direction, and
  charges each new connection two more round trips before its first byte (TCP
  then TLS 1.3, as HTTPS to Centrapay does). The payment methods point at it
  during the runs (``centrapay_base_url``), and back at the sandbox after. The
  patrons' payments and the webhooks do not go through it.
* ``--accounts A``: a chain of A stores in the demo's database, each with its
  own sandbox account, payment method, POS and open session (``Bench store
  2`` ... are made, or reused with a fresh sandbox account); the tills are
  dealt round the stores. The table's ``peak/60 s/acct`` is the most calls of
  one account in any 60 s.
* ``--no-cron`` switches the engine's cron off for the runs (and on again
  after), and waits until the engine has stopped: the tills' polls (set
  the server then asks for a poll a second) are then all that reads Centrapay.
* ``--websockets W`` keeps W websockets open to Odoo during the runs, as the
  shop's POS screens, customer displays and back-office tabs do (each holds
  one for as long as it is open, and a threaded Odoo gives each a thread of
  its own). Before each run it times ``/web/health`` with them open: a server
  whose threads the websockets took answers late or not at all.

``--tills`` and ``--webhooks`` take comma-separated lists: one run (one table
row) per combination, each repeating its wave of N tills ``--rounds`` times.
``--json`` prints the runs as JSON instead of the table. The whole benchmark
stops after ``--timeout`` seconds (partial figures are printed, exit code 2).
It only talks to 127.0.0.1.
"""

import argparse
import base64
import json
import math
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from odoo_rpc import Rpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from centrapay.sandbox.control import SandboxControl  # noqa: E402

MODULE = "pos_centrapay"
FINAL = ("paid", "cancelled", "expired", "error")
PENDING = ("draft", "new")
WATCH_INTERVAL = 0.05
RPC_TIMEOUT = 60
LOGIN_CONCURRENCY = 5


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- A network's round trip -----------------------------------------------------------


class DelayProxy:
    """A TCP proxy on 127.0.0.1 to ``target``: each chunk is held ``rtt``/2 in
    each direction, and a new connection's first bytes wait two round trips
    more (the TCP and TLS handshakes of HTTPS)."""

    def __init__(self, target_host, target_port, rtt):
        self.target = (target_host, target_port)
        self.rtt = rtt
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=30)
        except OSError as exc:
            say(f"proxy: cannot reach the sandbox: {exc}")
            client.close()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(None)
        ready_at = time.monotonic() + 2 * self.rtt
        for src, dst in ((client, upstream), (upstream, client)):
            held = queue.Queue()
            threading.Thread(
                target=self._read, args=(src, held, ready_at), daemon=True
            ).start()
            threading.Thread(target=self._write, args=(dst, held), daemon=True).start()

    def _read(self, src, held, ready_at):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            held.put((max(time.monotonic() + self.rtt / 2, ready_at), data))
            if not data:
                return

    def _write(self, dst, held):
        while True:
            due, data = held.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.listener.close()


# --- The shop's open screens ---------------------------------------------------------


class OpenWebsockets:
    """``count`` websockets to Odoo's bus, open until ``close``: idle screens."""

    def __init__(self, url, count):
        parts = urlsplit(url)
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                (
                    f"GET /websocket?version=18.0-1 HTTP/1.1\r\n"
                    f"Host: {parts.netloc}\r\nOrigin: {url}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            self.sockets.append(sock)
        for sock in self.sockets:
            status = sock.recv(4096).split(b"\r\n", 1)[0]
            if status.split()[1:2] != [b"101"]:
                self.close()
                raise SystemExit(f"Odoo refused a websocket: {status!r}")

    def close(self):
        for sock in self.sockets:
            sock.close()


def health_ms(url, timeout=10.0):
    """How long ``/web/health`` takes to answer (ms), or None after ``timeout``."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"{url}/web/health", timeout=timeout) as answer:
            answer.read()
    except OSError:
        return None
    return (time.monotonic() - start) * 1000


# --- The demo -------------------------------------------------------------------------


class Demo:
    """The demo's records, found (and its POS session opened) as the admin."""

    def __init__(self, args):
        self.args = args
        admin = Rpc(args.url, args.db, timeout=RPC_TIMEOUT)
        admin.login(args.login, args.password)
        refs = {
            row["name"]: row["res_id"]
            for row in admin.call(
                "ir.model.data",
                "search_read",
                [
                    ("module", "=", MODULE),
                    (
                        "name",
                        "in",
                        [
                            "res_company_centrapay_cafe",
                            "pos_config_centrapay_cafe",
                            "pos_payment_method_centrapay_demo",
                        ],
                    ),
                ],
                ["name", "res_id"],
            )
        }
        self.company_id = refs["res_company_centrapay_cafe"]
        self.config_id = refs["pos_config_centrapay_cafe"]
        self.method_id = refs["pos_payment_method_centrapay_demo"]
        self.context = {"allowed_company_ids": [self.company_id]}
        admin.context = self.context
        self.admin = admin
        self.session_id = self._open_session()
        method = admin.call(
            "pos.payment.method",
            "read",
            [self.method_id],
            ["centrapay_webhook_enabled", "centrapay_base_url"],
        )[0]
        self.webhook_enabled = method["centrapay_webhook_enabled"]
        self.centrapay_url = method["centrapay_base_url"]
        # Each store: its payment method, POS and open session.
        self.stores = [
            {
                "method_id": self.method_id,
                "config_id": self.config_id,
                "session_id": self.session_id,
            }
        ]

    def add_stores(self, count, control):
        """Stores 2 .. ``count`` of a chain, each on a fresh sandbox account."""
        admin = self.admin
        for number in range(len(self.stores) + 1, count + 1):
            name = f"Bench store {number}"
            info = control.add_account(name)

            def find(model, name=name):
                found = admin.call(model, "search", [("name", "=", name)])
                return found[0] if found else None

            journal_id = find("account.journal") or admin.call(
                "account.journal",
                "create",
                {"name": name, "type": "bank", "code": f"BS{number:03d}"},
            )
            values = {
                "name": name,
                "journal_id": journal_id,
                "payment_method_type": "terminal",
                "use_payment_terminal": "centrapay",
                "centrapay_environment": "sandbox",
                "centrapay_base_url": self.centrapay_url,
                "centrapay_api_key": info["api_key"],
                "centrapay_merchant_config_id": info["merchant_config_id"],
                "centrapay_merchant_id": info["merchant_id"],
                "centrapay_merchant_account_id": info["merchant_account_id"],
            }
            method_id = find("pos.payment.method")
            if method_id:
                # Odoo refuses to write a method of an open session: a new
                # sandbox account (after a demo reset) goes in by SQL.
                account = {k: v for k, v in values.items() if "merchant" in k}
                account["centrapay_api_key"] = values["centrapay_api_key"]
                self.sql_write(method_id, account)
            else:
                method_id = admin.call("pos.payment.method", "create", values)
            config_id = find("pos.config") or admin.call(
                "pos.config",
                "create",
                {"name": name, "payment_method_ids": [(6, 0, [method_id])]},
            )
            self.stores.append(
                {
                    "method_id": method_id,
                    "config_id": config_id,
                    "session_id": self._open_session(config_id),
                }
            )
            account = info["merchant_account_id"]
            say(f"{name}: method {method_id}, POS {config_id}, account {account}")
        return self.stores[:count]

    def set_base_url(self, url, count):
        """Point the first ``count`` stores' methods at ``url``."""
        for store in self.stores[:count]:
            self.sql_write(store["method_id"], {"centrapay_base_url": url})

    def sql_write(self, method_id, values):
        """Write a payment method's columns in PostgreSQL: Odoo refuses to
        write a method of an open session, and reads columns afresh in each
        transaction."""
        import psycopg2  # the Odoo virtualenv has it

        with psycopg2.connect(dbname=self.args.db) as conn, conn.cursor() as cr:
            cr.execute(
                "UPDATE pos_payment_method SET "
                + ", ".join(f"{column} = %s" for column in values)
                + " WHERE id = %s",
                [*values.values(), method_id],
            )
        conn.close()

    def engine_cron(self):
        return self.admin.call(
            "ir.model.data",
            "search_read",
            [("module", "=", MODULE), ("name", "=", "ir_cron_centrapay_status")],
            ["res_id"],
        )[0]["res_id"]

    def _open_session(self, config_id=None):
        config_id = config_id or self.config_id

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
            say(f"no open session of POS {config_id}: opening one")
            self.admin.call("pos.config", "open_ui", [config_id])
            sessions = find()
        session = sessions[0]
        if session["state"] == "opening_control":
            # The cashier's opening count, as the tests do.
            self.admin.call(
                "pos.session", "set_opening_control", [session["id"]], 0, ""
            )
        return session["id"]

    def ensure_base_url(self):
        """Make the webhook audience Odoo expects the URL the sandbox posts to."""
        current = self.admin.call("ir.config_parameter", "get_param", "web.base.url")
        if current != self.args.url:
            say(f"web.base.url was {current!r}: setting it to {self.args.url!r}")
            self.admin.call(
                "ir.config_parameter", "set_param", "web.base.url", self.args.url
            )

    def admin_rpc(self):
        """Another connection in the admin's session (for calls in parallel)."""
        rpc = Rpc(self.args.url, self.args.db, self.context, RPC_TIMEOUT)
        rpc.cookie = self.admin.cookie
        return rpc

    def till(self, index):
        rpc = Rpc(self.args.url, self.args.db, self.context, RPC_TIMEOUT)
        rpc.login(self.args.login, self.args.password)
        return {"index": index, "rpc": rpc, "device_id": str(uuid.uuid4())}


# --- Watching the database ------------------------------------------------------------


class DbSource:
    """Statuses read straight from PostgreSQL, autocommit: the latest commits."""

    def __init__(self, db):
        import psycopg2  # the Odoo virtualenv has it

        self.conn = psycopg2.connect(dbname=db)
        self.conn.autocommit = True

    def statuses(self, ids):
        with self.conn.cursor() as cr:
            cr.execute(
                "SELECT id, status FROM centrapay_payment_request WHERE id = ANY(%s)",
                [list(ids)],
            )
            return dict(cr.fetchall())

    def pending_count(self):
        with self.conn.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM centrapay_payment_request WHERE status IN %s",
                [PENDING],
            )
            return cr.fetchone()[0]


class RpcSource:
    """Statuses read with one search_read over JSON-RPC (never a Centrapay call)."""

    def __init__(self, demo):
        self.rpc = Rpc(demo.args.url, demo.args.db, demo.context, RPC_TIMEOUT)
        self.rpc.login(demo.args.login, demo.args.password)

    def statuses(self, ids):
        rows = self.rpc.call(
            "centrapay.payment.request",
            "search_read",
            [("id", "in", list(ids))],
            ["id", "centrapay_id", "status"],
        )
        return {row["id"]: row["status"] for row in rows}

    def pending_count(self):
        return self.rpc.call(
            "centrapay.payment.request", "search_count", [("status", "in", PENDING)]
        )


class Watcher(threading.Thread):
    """Notes when each pending request turns final in the database."""

    def __init__(self, source):
        super().__init__(daemon=True, name="watcher")
        self.source = source
        self.lock = threading.Lock()
        self.pending = {}
        self.errors = Counter()
        self.reads = 0
        self.stop = threading.Event()

    def add(self, payment):
        with self.lock:
            self.pending[payment["request_id"]] = payment

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                pending = dict(self.pending)
            if pending:
                # A row read now was committed before this moment.
                started = time.time()
                try:
                    statuses = self.source.statuses(pending)
                    self.reads += 1
                except Exception as exc:  # noqa: BLE001 (counted, reported)
                    self.errors[repr(exc)[:200]] += 1
                    statuses = {}
                for request_id, status in statuses.items():
                    if status in FINAL:
                        payment = pending[request_id]
                        payment["final_status"] = status
                        payment["known_at"] = started
                        with self.lock:
                            self.pending.pop(request_id, None)
                        payment["pushed"].set()  # the bus tells the POS
            self.stop.wait(WATCH_INTERVAL)


# --- One wave of tills ----------------------------------------------------------------


class Wave:
    """N tills create at once and wait like the POS; patrons pay meanwhile."""

    def __init__(self, bench, tills, label):
        self.bench = bench
        self.tills = tills
        self.label = label
        self.payments = []
        self.go = threading.Event()
        self.t0 = None

    def run(self, deadline):
        threads = []
        for till in self.tills:
            payment = {
                "till": till["index"],
                "store": till["store"],
                "wave": self.label,
                "pushed": threading.Event(),
            }
            payment.update(polls=0, rpc_errors=[])
            self.payments.append(payment)
            threads.append(
                threading.Thread(
                    target=self._till, args=(till, payment, deadline), daemon=True
                )
            )
        for thread in threads:
            thread.start()
        time.sleep(0.2)  # every till at the start line
        self.t0 = time.time()
        self.go.set()
        for thread in threads:
            thread.join(max(0.0, deadline - time.time()))
        # A till that read "paid" itself stops at once: let the watcher see it too.
        while time.time() < deadline and any(
            p.get("centrapay_id") and not p.get("known_at") for p in self.payments
        ):
            time.sleep(WATCH_INTERVAL)
        leftovers = [
            p for p in self.payments if p.get("centrapay_id") and not p.get("known_at")
        ]
        if leftovers:
            say(f"{self.label}: {len(leftovers)} requests not final: cancelling them")
            self._cancel(leftovers)
        return self.payments

    def _payload(self, till):
        amount = round(random.uniform(1, 60), 2)
        return {
            "amount": amount,
            "payment_uuid": str(uuid.uuid4()),
            "order_uuid": str(uuid.uuid4()),
            "order_name": f"Bench {self.label} till {till['index']:03d}",
            "session_id": till["store"]["session_id"],
            "device_id": till["device_id"],
            "line_items": [{"name": "Bench coffee", "qty": 1, "price": amount}],
        }

    def _call(self, rpc, payment, method, *args):
        try:
            return rpc.call(
                "pos.payment.method", method, [payment["store"]["method_id"]], *args
            )
        except Exception as exc:  # noqa: BLE001 (counted and reported)
            payment["rpc_errors"].append(f"{method}: {exc}"[:300])
            return None

    def _till(self, till, payment, deadline):
        rpc = till["rpc"]
        data = self._payload(till)
        self.go.wait()
        sent = payment["sent_at"] = time.time()
        state = self._call(rpc, payment, "centrapay_create_request", data)
        payment["create_s"] = time.time() - sent
        if state is None:
            return
        if state.get("error"):
            payment["refusal"] = str(state["error"])
            return
        payment.update(request_id=state["id"], centrapay_id=state["centrapay_id"])
        self.bench.watcher.add(payment)
        pay_at = self.t0 + random.uniform(0, self.bench.args.spread)
        threading.Thread(
            target=self._patron, args=(payment, pay_at), daemon=True
        ).start()
        self._wait_like_the_pos(rpc, payment, deadline, state.get("poll_ms", 0))

    def _wait_like_the_pos(self, rpc, payment, deadline, poll_ms):
        """The POS's poll (as the server asks, or ``--pos-poll``), and one read
        when the bus pushes the change."""

        def period_of(poll_ms):
            fixed = self.bench.args.pos_poll
            return fixed if fixed is not None else (poll_ms or 0) / 1000

        period = period_of(poll_ms)
        next_poll = time.time() + period if period else math.inf
        while True:
            wake = min(next_poll, deadline)
            pushed = payment["pushed"].wait(max(0.0, wake - time.time()))
            if not pushed and time.time() >= deadline:
                return
            if not pushed:
                payment["polls"] += 1
            state = self._call(
                rpc,
                payment,
                "centrapay_get_status",
                payment["centrapay_id"],
                payment["store"]["session_id"],
            )
            if pushed or (state and state.get("status") in FINAL):
                return
            period = period_of(state.get("poll_ms", 0) if state else 0)
            next_poll = time.time() + period if period else math.inf

    def _patron(self, payment, pay_at):
        time.sleep(max(0.0, pay_at - time.time()))
        try:
            self.bench.control.pay(payment["centrapay_id"])
        except Exception as exc:  # noqa: BLE001 (counted and reported)
            payment["pay_error"] = str(exc)[:300]
            return
        payment["paid_at"] = time.time()

    def _cancel(self, payments):
        """Cancel what is still open, as the POS does when it gives up."""
        threads = [
            threading.Thread(
                target=lambda p: p.update(
                    cancelled=self._call(
                        self.bench.demo.admin_rpc(),
                        p,
                        "centrapay_cancel_request",
                        p["centrapay_id"],
                        p["store"]["session_id"],
                    )
                ),
                args=(payment,),
                daemon=True,
            )
            for payment in payments
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)


# --- Figures --------------------------------------------------------------------------


def percentile(values, fraction):
    """Nearest-rank percentile (the median for 0.5 on an odd count)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def parse_ts(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def peak_per_window(timestamps, window=60.0):
    """The most calls in any sliding ``window`` seconds."""
    ordered = sorted(timestamps)
    best, first = 0, 0
    for last, ts in enumerate(ordered):
        while ordered[first] <= ts - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def call_kind(call):
    path = call["path"].split("?", 1)[0]
    if path.endswith("jwks.json"):
        return "jwks"
    if call["method"] == "POST" and path == "/api/payment-requests":
        return "create"
    if "/external-ref/" in path:
        return "lookup"
    for suffix in ("activities", "void", "refund", "summary", "pay"):
        if path.endswith("/" + suffix):
            return suffix
    if call["method"] == "GET" and path.startswith("/api/payment-requests/"):
        return "get"
    return f"{call['method']} {path}"


def stages(payments, calls):
    """Where a paid payment's time went, from the sandbox's call log (its
    timestamps are when it answered): paid -> the first read of its account's
    feed answered after it -> the first read of that request after that ->
    Odoo knew.
    Percentiles (p50, p95) in ms of each stage; a payment learnt another way
    (no such feed read) is left out.
    """
    feeds = defaultdict(list)  # per account: another store's feed is no news
    gets = defaultdict(list)
    account_of = {}
    timed = sorted(
        ((parse_ts(c["timestamp"]), n, c) for n, c in enumerate(calls)),
        key=lambda t: t[:2],
    )
    for at, _n, call in timed:
        if call["path"].startswith("/api/payment-activities"):
            feeds[call.get("account")].append(at)
        elif call_kind(call) == "get":
            request = call["path"].split("?", 1)[0].rsplit("/", 1)[-1]
            gets[request].append(at)
            account_of.setdefault(request, call.get("account"))
    parts = defaultdict(list)
    for p in payments:
        if not (p.get("paid_at") and p.get("known_at")):
            continue
        account = account_of.get(p["centrapay_id"])
        feed = next((t for t in feeds[account] if t > p["paid_at"]), None)
        get = feed and next((t for t in gets[p["centrapay_id"]] if t > feed), None)
        if not get or get > p["known_at"]:
            continue
        parts["paid_to_feed"].append((feed - p["paid_at"]) * 1000)
        parts["feed_to_get"].append((get - feed) * 1000)
        parts["get_to_known"].append((p["known_at"] - get) * 1000)
    return {
        name: [round(percentile(ms, q)) for q in (0.5, 0.95)]
        for name, ms in parts.items()
    }


def slowest(payments, count=5):
    """The slowest payments: (ms, creates being served when it was paid), a
    payment made during a burst of creates waits for the engine behind them."""
    creating = [
        (p["sent_at"], p["sent_at"] + p["create_s"])
        for p in payments
        if "create_s" in p and "sent_at" in p
    ]
    known = [p for p in payments if p.get("paid_at") and p.get("known_at")]
    known.sort(key=lambda p: p["known_at"] - p["paid_at"], reverse=True)
    return [
        (
            round((p["known_at"] - p["paid_at"]) * 1000),
            sum(1 for start, end in creating if start <= p["paid_at"] < end),
        )
        for p in known[:count]
    ]


def summarize(n, webhooks, rounds, payments, calls, deliveries, extra):
    latencies = [
        (p["known_at"] - p["paid_at"]) * 1000
        for p in payments
        if p.get("paid_at") and p.get("known_at") and p["final_status"] == "paid"
    ]
    paid = [p for p in payments if p.get("paid_at")]
    api_calls = [c for c in calls if not c["path"].startswith("/_sandbox")]
    refusals = Counter(p["refusal"] for p in payments if p.get("refusal"))
    creates = [p["create_s"] * 1000 for p in payments if "create_s" in p]
    by_account = defaultdict(list)
    for call in api_calls:
        if call.get("account") not in (None, "patron"):
            by_account[call["account"]].append(parse_ts(call["timestamp"]))
    return {
        "tills": n,
        "webhooks": webhooks,
        "rounds": rounds,
        "payments": len(paid),
        "known_paid": len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "max_ms": max(latencies) if latencies else None,
        "calls": len(api_calls),
        "calls_per_payment": len(api_calls) / len(paid) if paid else None,
        "peak_60s": peak_per_window([parse_ts(c["timestamp"]) for c in api_calls]),
        "peak_60s_account": max(
            (peak_per_window(times) for times in by_account.values()), default=0
        ),
        "http_429": sum(1 for c in api_calls if c["status"] == 429),
        "calls_by_kind": dict(Counter(call_kind(c) for c in api_calls)),
        # The sandbox's own answer times: a slow sandbox is not a slow Odoo.
        "sandbox_ms": [
            percentile([c["durationMs"] for c in api_calls], q) for q in (0.5, 0.95, 1)
        ],
        "refusals": sum(refusals.values()),
        "refusal_messages": dict(refusals),
        "latencies_ms": sorted(round(ms) for ms in latencies),
        "stages_ms": stages(payments, api_calls),
        "slowest": slowest(payments),
        "create_p50_ms": percentile(creates, 0.5),
        "create_max_ms": max(creates) if creates else None,
        # The first wave also opens the connections to Centrapay (two more
        # round trips each through --rtt's proxy): the later ones reuse them.
        "create_max_ms_by_wave": {
            wave: round(
                max(p["create_s"] for p in payments if p.get("wave") == wave) * 1000
            )
            for wave in dict.fromkeys(
                p.get("wave") for p in payments if "create_s" in p
            )
        },
        "pos_polls": sum(p["polls"] for p in payments),
        "pay_errors": [p["pay_error"] for p in payments if p.get("pay_error")],
        "not_known": sum(1 for p in paid if not p.get("known_at")),
        "final_not_paid": dict(
            Counter(
                p["final_status"]
                for p in paid
                if p.get("known_at") and p["final_status"] != "paid"
            )
        ),
        "rpc_error_count": sum(len(p["rpc_errors"]) for p in payments),
        "rpc_errors": dict(Counter(e for p in payments for e in p["rpc_errors"])),
        "webhook_deliveries": dict(
            Counter(str(d["status"] or d["error"]) for d in deliveries)
        ),
        **extra,
    }


# --- The benchmark --------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.deadline = time.monotonic() + args.timeout
        self.control = SandboxControl(args.sandbox)
        self.demo = Demo(args)
        self.tills = []
        self.watcher = None
        self.log_offset = None
        self.proxy = None
        self.warmed = None
        self.websockets = None

    def left(self):
        return self.deadline - time.monotonic()

    def wall_deadline(self, seconds):
        """A ``time.time()`` deadline: ``seconds`` from now, within the timeout."""
        return time.time() + max(0.0, min(seconds, self.left()))

    def start_watcher(self):
        source = None
        if self.args.watch == "db":
            try:
                source = DbSource(self.args.db)
            except Exception as exc:  # noqa: BLE001 (falls back, says so)
                say(f"cannot read PostgreSQL ({exc}); watching over JSON-RPC")
        self.watch_mode = "db" if source else "rpc"
        self.watcher = Watcher(source or RpcSource(self.demo))
        self.watcher.start()

    def login_tills(self, n):
        """Log in the tills missing; each keeps its own Odoo session.

        A few at a time: 50 logins at once overflow the demo's database pool.
        """
        missing = range(len(self.tills) + 1, n + 1)
        gate = threading.Semaphore(LOGIN_CONCURRENCY)
        new, errors = {}, Counter()

        def login(index):
            with gate:
                for attempt in range(3):
                    try:
                        new[index] = self.demo.till(index)
                        return
                    except Exception as exc:  # noqa: BLE001 (retried, reported)
                        errors[str(exc)[:200]] += 1
                        time.sleep(1 + attempt)

        threads = [threading.Thread(target=login, args=(i,)) for i in missing]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            say(f"till logins failed (retried): {dict(errors)}")
        if len(new) < len(missing):
            raise SystemExit("some tills could not log in")
        self.tills += [new[i] for i in missing]
        return self.tills[:n]

    def set_webhooks(self, on):
        url = self.webhook_config["url"] or f"{self.args.url}/{MODULE}/webhook"
        self.control.set_webhook(
            url if on else None,
            self.webhook_config["duplicate"],
            self.webhook_config["reorder"],
        )

    def wait_idle(self, label, max_wait):
        """Wait until no request is pending in Odoo (earlier runs' leftovers)."""
        end = self.wall_deadline(max_wait)
        count = self.watcher.source.pending_count()
        if count:
            say(f"{label}: {count} requests still pending in Odoo: waiting")
        while count and time.time() < end:
            time.sleep(1)
            count = self.watcher.source.pending_count()
        return count

    def settle(self):
        """Let the tail (activities reads, late webhooks) reach the call log."""
        end = self.wall_deadline(self.args.settle)
        last, quiet_since = -1, time.time()
        while time.time() < end:
            count = len(self.control.calls())
            pending = self.control._call("GET", "/webhooks/deliveries")["pending"]
            if count != last or pending:
                last, quiet_since = count, time.time()
            elif time.time() - quiet_since >= 3:
                return
            time.sleep(0.5)

    def odoo_log_lines(self):
        path = self.args.odoo_log
        if not path:
            return []
        with open(path, "rb") as log:
            log.seek(self.log_offset or 0)
            text = log.read().decode("utf-8", "replace")
            self.log_offset = log.tell()
        return text.splitlines()

    def run(self, n, webhooks):
        args = self.args
        label = f"N={n} webhooks {webhooks}"
        tills = self.login_tills(n)
        stores = self.demo.stores[: args.accounts]
        for till in tills:
            till["store"] = stores[(till["index"] - 1) % len(stores)]
        leftover = self.wait_idle(label, args.settle)
        self.set_webhooks(webhooks == "on")
        self.control.clear_calls()
        self.control.clear_deliveries()
        self.odoo_log_lines()  # skip what came before
        # With the shop's screens open (--websockets): can Odoo still answer?
        health = health_ms(args.url) if args.websockets else None
        payments = []
        started = time.time()
        for round_no in range(1, args.rounds + 1):
            if round_no > 1 and args.pause:
                say(f"{label}: a quiet spell of {args.pause:g} s")
                time.sleep(min(args.pause, max(0.0, self.left())))
            if self.left() <= 0:
                break
            say(f"{label}: round {round_no}/{args.rounds}")
            wave = Wave(self, tills, f"{n}{webhooks}-{round_no}")
            payments += wave.run(self.wall_deadline(args.spread + args.wait))
        self.settle()
        calls = self.control.calls()
        log = self.odoo_log_lines()
        extra = {
            "accounts": args.accounts,
            "rtt_ms": args.rtt,
            "no_cron": args.no_cron,
            "websockets": args.websockets,
            "health_ms": health,
            "proxy_connections": self.proxy.connections if self.proxy else None,
            # Open before the first wave: (connections, seconds waited for them).
            "warmed": self.warmed,
            "pending_before": leftover,
            "seconds": round(time.time() - started, 1),
            "watch": self.watch_mode,
            "watch_errors": dict(self.watcher.errors),
            "call_log_full": len(calls) >= 5000,
            "odoo_log": {
                "errors": sum(1 for line in log if " ERROR " in line),
                "warnings": sum(1 for line in log if " WARNING " in line),
                # Odoo replays a transaction on a serialization failure or a
                # deadlock, and logs "<code>, N tries left, try again...".
                "retries": sum(1 for line in log if "tries left, try again" in line),
                "serialization": sum(
                    1
                    for line in log
                    if "SERIALIZATION_FAILURE" in line or "could not serialize" in line
                ),
            },
            "odoo_log_samples": sorted(
                {
                    line.split(" ", 3)[-1][:200]
                    for line in log
                    if " ERROR " in line or " WARNING " in line
                }
            )[:5],
        }
        return summarize(
            n, webhooks, args.rounds, payments, calls, self.control.deliveries(), extra
        )


COLUMNS = [
    ("N", "tills", "{}"),
    ("webhooks", "webhooks", "{}"),
    ("payments", "payments", "{}"),
    ("p50 ms", "p50_ms", "{:.0f}"),
    ("p95 ms", "p95_ms", "{:.0f}"),
    ("max ms", "max_ms", "{:.0f}"),
    ("calls/payment", "calls_per_payment", "{:.1f}"),
    ("peak/60 s", "peak_60s", "{}"),
    ("peak/60 s/acct", "peak_60s_account", "{}"),
    ("QR max ms", "create_max_ms", "{:.0f}"),
    ("429s", "http_429", "{}"),
    ("refusals", "refusals", "{}"),
    ("RPC errors", "rpc_error_count", "{}"),
]


def table(rows):
    cells = [[title for title, _, _ in COLUMNS]] + [
        ["-" if row[key] is None else fmt.format(row[key]) for _, key, fmt in COLUMNS]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        " | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def notes(row):
    """What the table leaves out, when it is worth a look."""
    out = [
        f"  calls by kind: {row['calls_by_kind']}; create p50/max "
        f"{row['create_p50_ms'] or 0:.0f}/{row['create_max_ms'] or 0:.0f} ms; "
        f"POS polls {row['pos_polls']}; webhook deliveries {row['webhook_deliveries']}",
        f"  QR max by wave (ms): {row['create_max_ms_by_wave']}",
        "  sandbox answer times p50/p95/max: "
        + "/".join("-" if ms is None else f"{ms:.0f}" for ms in row["sandbox_ms"])
        + " ms",
        f"  stages p50/p95 ms (paid > feed > read > known): {row['stages_ms']}",
        f"  slowest (ms, creates being served as it was paid): {row['slowest']}",
    ]
    for key in (
        "refusal_messages",
        "rpc_errors",
        "pay_errors",
        "final_not_paid",
        "watch_errors",
    ):
        if row[key]:
            out.append(f"  {key}: {row[key]}")
    if row["not_known"]:
        out.append(f"  paid but never known to Odoo in time: {row['not_known']}")
    if row["pending_before"]:
        out.append(
            f"  requests still pending in Odoo at the start: {row['pending_before']}"
        )
    if row["rtt_ms"] or row["accounts"] > 1 or row["no_cron"]:
        out.append(
            f"  {row['accounts']} account(s), RTT {row['rtt_ms']} ms "
            f"({row['proxy_connections']} connections through the proxy), "
            f"engine cron {'off' if row['no_cron'] else 'on'}"
        )
    if row["warmed"]:
        out.append(
            f"  before the first wave: {row['warmed'][0]} connections open "
            f"through the proxy, {row['warmed'][1]} s after Odoo was pointed at it"
        )
    if row["websockets"]:
        health = row["health_ms"]
        out.append(
            f"  {row['websockets']} websockets open: /web/health "
            + ("did not answer in 10 s" if health is None else f"in {health:.0f} ms")
        )
    if any(row["odoo_log"].values()):
        out.append(f"  Odoo log: {row['odoo_log']} {row['odoo_log_samples']}")
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8069", help="Odoo")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8900")
    parser.add_argument("--db", default="pos_centrapay_demo")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument(
        "--tills", default="10", help="simulated tills, e.g. 10 or 1,10,50"
    )
    parser.add_argument("--webhooks", default="off", help="on, off or off,on")
    parser.add_argument("--rounds", type=int, default=1, help="waves per run")
    parser.add_argument(
        "--spread", type=float, default=20.0, help="patrons pay within this (s)"
    )
    parser.add_argument(
        "--pos-poll",
        type=float,
        default=None,
        help="POS poll (s), 0: off; by default as the server's poll_ms asks",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="after the spread, how long a wave waits for Odoo to know (s)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=20.0,
        help="max wait for a quiet call log after a run, and for no pending "
        "request before one (s)",
    )
    parser.add_argument(
        "--cooldown",
        type=float,
        default=65.0,
        help="seconds between runs, so each starts with an empty 60 s rate window",
    )
    parser.add_argument("--watch", choices=["db", "rpc"], default="db")
    parser.add_argument("--odoo-log", help="Odoo's log file, to count its errors")
    parser.add_argument("--seed", type=int, help="for the patrons' random moments")
    parser.add_argument("--timeout", type=float, default=300.0, help="for it all (s)")
    parser.add_argument("--json", action="store_true", help="print JSON, no table")
    parser.add_argument(
        "--rtt", type=float, default=0, help="round trip to Centrapay (ms), 0: none"
    )
    parser.add_argument("--accounts", type=int, default=1, help="stores of a chain")
    parser.add_argument(
        "--no-cron", action="store_true", help="the engine's cron off for the runs"
    )
    parser.add_argument(
        "--websockets", type=int, default=0, help="idle websockets open to Odoo"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0,
        help="seconds of quiet between waves; over 60 s, the server closes "
        "idle connections (the sandbox's idle timeout, an AWS load balancer's)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="with --rtt: the first wave at once, before the engine has opened "
        "the tills' connections (as just after Odoo starts)",
    )
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.rtt < 0 or args.websockets < 0 or args.pause < 0:
        parser.error(
            "--accounts takes a positive number, --rtt and --pause a positive "
            "delay, --websockets a count"
        )
    for url in (args.url, args.sandbox):
        if urlsplit(url).hostname != "127.0.0.1":
            parser.error(f"{url}: this benchmark only targets 127.0.0.1")
    args.url = args.url.rstrip("/")
    try:
        args.tills = [int(n) for n in args.tills.split(",")]
    except ValueError:
        parser.error("--tills takes numbers, e.g. 1,10,50")
    args.webhooks = args.webhooks.split(",")
    if not set(args.webhooks) <= {"on", "off"} or min(args.tills) < 1:
        parser.error("--webhooks takes on/off, --tills positive numbers")
    return args


def hard_stop(control, webhook_config, grace):
    """The last resort of the timeout: restore the webhooks and leave."""
    time.sleep(grace)
    say("still running after the timeout: stopping hard")
    try:
        control.set_webhook(**webhook_config)
    finally:
        os._exit(3)


def set_the_scene(bench, control, cron_id):
    """The stores, the network's round trip and the cron as ``--accounts``,
    ``--rtt`` and ``--no-cron`` ask."""
    args, demo = bench.args, bench.demo
    demo.add_stores(args.accounts, control)
    if args.rtt:
        target = urlsplit(demo.centrapay_url)
        bench.proxy = DelayProxy(target.hostname, target.port, args.rtt / 1000)
        demo.set_base_url(f"http://127.0.0.1:{bench.proxy.port}", args.accounts)
        say(f"Centrapay through a {args.rtt:.0f} ms proxy on {bench.proxy.port}")
    if args.rtt and not args.cold and not cron_id:
        # A shop's tills are open a while before their first payment: the
        # engine's next pass opens a connection for each
        # (``_centrapay_keep_warm``); an idle engine asks for one every 30 s,
        # and Odoo's cron runner wakes about once a minute. At most 16 per
        # account: the engine's cap (const.CREATES_AT_ONCE).
        per_account = max(1, min(max(args.tills) // args.accounts, 16))
        want, started = per_account * args.accounts, time.time()
        while bench.proxy.connections < want and time.time() - started < 75:
            time.sleep(0.2)
        bench.warmed = (bench.proxy.connections, round(time.time() - started, 1))
        say(f"{bench.warmed[0]} connections open after {bench.warmed[1]} s")
    if args.websockets:
        bench.websockets = OpenWebsockets(args.url, args.websockets)
        say(f"{args.websockets} websockets open to Odoo")
    if cron_id:
        demo.admin.call("ir.cron", "write", [cron_id], {"active": False})
        # A call under way ends its window; the tills then see no engine.
        say("engine cron off: waiting 15 s for the engine to stop")
        time.sleep(15)


def clear_the_scene(bench, cron_id):
    """Centrapay's URL and the cron as they were."""
    demo = bench.demo
    if bench.websockets:
        bench.websockets.close()
    if bench.proxy:
        demo.set_base_url(demo.centrapay_url, bench.args.accounts)
        bench.proxy.close()
    if cron_id:
        demo.admin.call("ir.cron", "write", [cron_id], {"active": True})


def main():
    args = parse_args()
    # A bench stopped with kill still puts the demo back (its ``finally``): a
    # method left pointing at a closed proxy, with the till open, would make
    # the next ``dev.py demo`` fail to configure it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    random.seed(args.seed)
    control = SandboxControl(args.sandbox)
    try:
        webhook_config = control.webhook_config()
    except OSError as exc:
        raise SystemExit(
            f"no sandbox at {args.sandbox} ({exc}): start the demo"
        ) from None
    threading.Thread(
        target=hard_stop,
        args=(control, webhook_config, args.timeout + 60),
        daemon=True,
    ).start()
    try:
        bench = Bench(args)
    except OSError as exc:
        raise SystemExit(f"no Odoo at {args.url} ({exc})") from None
    bench.webhook_config = webhook_config
    if "on" in args.webhooks:
        bench.demo.ensure_base_url()
        if not bench.demo.webhook_enabled:
            say("the payment method has webhooks disabled: Odoo will ignore them")
    bench.start_watcher()
    say(
        f"session {bench.demo.session_id}, method {bench.demo.method_id}, "
        f"watching via {bench.watch_mode}, timeout {args.timeout:.0f} s"
    )
    rows, timed_out = [], False
    cron_id = bench.demo.engine_cron() if args.no_cron else None
    try:
        set_the_scene(bench, control, cron_id)
        for webhooks in args.webhooks:
            for n in args.tills:
                if rows and args.cooldown:
                    # Centrapay's limit is per minute: each run starts with the
                    # account's window empty, as after a quiet minute in a shop.
                    say(f"cooling down {args.cooldown:.0f} s")
                    time.sleep(min(args.cooldown, max(0.0, bench.left())))
                if bench.left() <= 0:
                    timed_out = True
                    break
                rows.append(bench.run(n, webhooks))
                if not args.json:
                    say("done:\n" + table(rows[-1:]))
        timed_out = timed_out or bench.left() <= 0
    finally:
        bench.control.set_webhook(**bench.webhook_config)
        bench.watcher.stop.set()
        clear_the_scene(bench, cron_id)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
        for row in rows:
            print(f"N={row['tills']} webhooks {row['webhooks']}:")
            print("\n".join(notes(row)))
    if timed_out:
        say(f"stopped at the {args.timeout:.0f} s timeout: figures are partial")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check Odoo's production topology as ``tools/dev.py demo --workers N`` runs it.

Everything goes through nginx, as a till would. In headless Chromium: log in, open
the POS, then for each run sell one product, pick Centrapay, have the patron pay
through the sandbox's control API and wait for the receipt. It proves that the
*paid* push reached the POS over the bus websocket through nginx, and not through
a status read of the POS's (every 2 s while the bus is down, or as the server's
``poll_ms`` asks when its engine is not running):

* paid -> bus push received, and paid -> QR code closed: p50/p95/max (the clock
  starts when the sandbox's pay call returns);
* which call settled each payment: the one the bus push started, or the poll;
* the websocket stayed up: the bus service's connect/disconnect events, the
  SharedWorker's websocket events seen over CDP (``Network.webSocketCreated`` /
  ``webSocketClosed``), and nginx's log line of the ``/websocket`` upgrade.

``--kill-test`` (``demo --servers 2``): one payment waits in the POS and more are
created over JSON-RPC, as the POS creates them; some are paid, then the Odoo server
holding the browser's websocket (or, ``--kill-server cron``, the one whose cron
worker runs the status job) is SIGKILLed: master, workers, cron worker and gevent
process at once. Then the others are paid or cancelled by the cashier through
nginx. Every request must end paid or cancelled, in Odoo (read over JSON-RPC) and
at Centrapay (the sandbox), through the other server. ``--webhooks off`` leaves
the status job alone to learn of payments.

``--bench 1,10,50``: last (after the kill test, once the killed server runs
again), the concurrency benchmark of the status engine
(``tools/bench_concurrency.py``) runs through nginx, against the same demo, with
``--bench-webhooks off,on``; its table is printed, and it must finish in its
time limit with no refusal, no 429 and no RPC error.

Run it with the Odoo virtualenv's Python (it has ``websocket-client``), with the
same ``POS_CENTRAPAY_CACHE`` as the demo if it was set::

    ~/.cache/pos_centrapay/venv-odoo/bin/python tools/topology_check.py \\
        --port 18269 --runs 20 [--kill-test]

Every loop is bounded; it exits 0 when every check passed, 1 otherwise.
"""

import argparse
import http.cookiejar
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import bench_concurrency
import websocket
from cdp import Browser, login_and_open_pos, start_centrapay_payment
from dev import restart_request, topology_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from centrapay.client import CentrapayClient  # noqa: E402
from centrapay.sandbox.control import SandboxControl  # noqa: E402

FALLBACK_POLL_MS = 2000  # the POS's poll while the bus is down (static/src/app/payment)
FINAL = ("paid", "cancelled", "expired", "error")

# Hooks into the running POS (its globals: window.posmodel): the bus service's
# connection events, the bus pushes the Centrapay terminal receives, and which of
# its server calls (started by a push, or by the fallback poll) settled a line.
INSTRUMENT = """
(() => {
    if (window.__topo) {
        return true;
    }
    const pos = window.posmodel;
    const methods = pos.models["pos.payment.method"];
    const all = methods.getAll ? methods.getAll() : [...methods];
    const terminal = all.find(
        (m) => m.use_payment_terminal === "centrapay"
    ).payment_terminal;
    const topo = {bus: [], pushes: [], asks: [], settled: {}, tag: null};
    topo.initialState = pos.bus.workerState;
    for (const ev of ["connect", "disconnect", "reconnect", "reconnecting"]) {
        pos.bus.addEventListener(ev, () => topo.bus.push([Date.now(), ev]));
    }
    const onStatusPushed = terminal.onStatusPushed;
    terminal.onStatusPushed = function (payload) {
        topo.pushes.push({
            at: Date.now(),
            uuid: payload.payment_uuid,
            status: payload.status,
        });
        topo.tag = "push";
        try {
            return onStatusPushed.call(this, payload);
        } finally {
            topo.tag = null;
        }
    };
    const askServer = terminal._askServer;
    terminal._askServer = async function (wait, method) {
        const via = topo.tag || (method === "centrapay_get_status" ? "poll" : method);
        const uuid = wait && wait.line && wait.line.uuid;
        const current = this._isCurrent(wait);
        topo.asks.push({at: Date.now(), via, uuid});
        await askServer.call(this, wait, method);
        if (current && !this._isCurrent(wait) && uuid && !topo.settled[uuid]) {
            topo.settled[uuid] = {via, at: Date.now()};
        }
    };
    window.__topo = topo;
    return true;
})()
"""

OBSERVER = """
window.__cpClosedAt = null;
new MutationObserver((_, observer) => {
    if (!document.querySelector('.centrapay-qr-dialog')) {
        window.__cpClosedAt = Date.now();
        observer.disconnect();
    }
}).observe(document.body, {childList: true, subtree: true});
"""


def say(msg):
    print(msg, flush=True)


def percentile(values, pct):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def summary(values):
    return (
        f"p50 {percentile(values, 50):.0f} ms, p95 {percentile(values, 95):.0f} ms, "
        f"max {max(values):.0f} ms"
    )


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, ok, what):
        say(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)
        return ok


class Rpc:
    """JSON-RPC to Odoo, with a session cookie (through nginx)."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def post(self, path, params, timeout=60):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params})
        req = urllib.request.Request(
            self.base_url + path,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with self.opener.open(req, timeout=timeout) as resp:
            answer = json.load(resp)
        if answer.get("error"):
            raise RuntimeError(f"{path}: {answer['error']['data']['message']}")
        return answer["result"]

    def login(self, db, login="admin", password="admin"):
        return self.post(
            "/web/session/authenticate",
            {"db": db, "login": login, "password": password},
        )

    def call(self, model, method, *args, **kwargs):
        return self.post(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )


def http_status(url, timeout=5):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return str(exc)


class WorkerWatch:
    """Network events of the bus's SharedWorker (where the websocket lives)."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=10)
        self.events = []
        self.ws.send(json.dumps({"id": 1, "method": "Network.enable", "params": {}}))

    def pump(self):
        """Read what arrived so far (CDP keeps it queued on the socket)."""
        self.ws.settimeout(0.05)
        while True:
            try:
                msg = json.loads(self.ws.recv())
            except (websocket.WebSocketTimeoutException, TimeoutError):
                return
            except (websocket.WebSocketException, OSError):
                return
            method = msg.get("method", "")
            if method.startswith("Network.webSocket"):
                self.events.append((time.time(), method, msg["params"]))

    def count(self, method, since=0.0):
        return sum(1 for at, m, _ in self.events if m == method and at >= since)

    def close(self):
        try:
            self.ws.close()
        except OSError:
            pass


def find_bus_worker(browser, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for target in browser.targets():
            if "worker" in target.get("type", "") and "websocket_worker" in target.get(
                "url", ""
            ):
                return target
        time.sleep(0.5)
    return None


# --- Preflight ----------------------------------------------------------------------


def preflight(state, rpc, control, checks):
    say("Topology")
    base = state["base_url"]
    for server in state["servers"]:
        status = http_status(f"http://127.0.0.1:{server['http_port']}/web/health")
        checks.check(
            status == 200,
            f"{server['name']}: HTTP port {server['http_port']} /web/health -> "
            f"{status}",
        )
    checks.check(
        http_status(f"{base}/web/health") == 200, f"nginx {base}/web/health -> 200"
    )
    ws_url = base.replace("http", "ws", 1) + "/websocket"
    try:
        ws = websocket.create_connection(ws_url, origin=base, timeout=10)
        status = ws.getstatus()
        ws.close()
    except (websocket.WebSocketException, OSError) as exc:
        status = str(exc)
    checks.check(status == 101, f"websocket upgrade through nginx {ws_url} -> {status}")
    rpc.login(state["db"])
    icp = "ir.config_parameter"
    base_url = rpc.call(icp, "get_param", "web.base.url")
    frozen = rpc.call(icp, "get_param", "web.base.url.freeze")
    checks.check(
        base_url == base and bool(frozen),
        f"web.base.url = {base_url} (freeze={frozen})",
    )
    method = rpc.call(
        "pos.payment.method",
        "search_read",
        [("use_payment_terminal", "=", "centrapay")],
        ["id", "company_id", "centrapay_webhook_url", "centrapay_webhook_enabled"],
        limit=1,
    )[0]
    hook = control.webhook_config()["url"]
    checks.check(
        hook == method["centrapay_webhook_url"] == base + "/pos_centrapay/webhook",
        f"sandbox webhook URL {hook} = the method's webhook URL (its JWT audience)",
    )
    return method


# --- Payments through the POS -------------------------------------------------------


def pay(control, pay_url):
    control.pay(pay_url.rpartition("/")[2])
    return time.time() * 1000


def line_uuid(pos, request_id):
    return pos.js(
        "posmodel.get_order().payment_ids.find("
        f"(l) => l.centrapay_request_id === {json.dumps(request_id)})?.uuid"
    )


def one_payment(pos, control, timeout=30):
    """Sell, show the QR, pay; return timings of the push and the QR closing."""
    pay_url = start_centrapay_payment(pos)
    request_id = pay_url.rpartition("/")[2]
    uuid_ = line_uuid(pos, request_id)
    pos.js(OBSERVER)
    paid_at = pay(control, pay_url)
    pos.wait("window.__cpClosedAt", timeout=timeout)
    closed_at = pos.js("window.__cpClosedAt")
    marks = pos.js(
        "({pushes: window.__topo.pushes.filter((p) => p.uuid === "
        f"{json.dumps(uuid_)} && p.status === 'paid'),"
        f" settled: window.__topo.settled[{json.dumps(uuid_)}] || null}})"
    )
    push_at = marks["pushes"][0]["at"] if marks["pushes"] else None
    pos.click(".receipt-screen .button.next.highlight[name='done']")
    pos.wait("document.querySelector('.product-screen article.product')")
    # When the paid webhook's answer (through nginx, from Odoo) reached the sandbox;
    # a webhook retried by Odoo (serialization failure) may answer later.
    answered = None
    deadline = time.monotonic() + 5
    while answered is None and time.monotonic() < deadline:
        answered = min(
            (
                _epoch(d["at"]) * 1000
                for d in control.deliveries()
                if d["ok"]
                and d["type"] == "payment-request:paid"
                and request_id in d["body"]
            ),
            default=None,
        )
        if answered is None:
            time.sleep(0.2)
    # Odoo commits what it read, then pushes, then answers the webhook: a webhook
    # answered well after the push did not bring it, the status job's poll did.
    if answered is None or push_at is None:
        read_by = "?"
    else:
        read_by = "webhook" if answered <= push_at + 150 else "status job"
    return {
        "request": request_id,
        "read_by": read_by,
        "webhook_ms": None if answered is None else answered - paid_at,
        "push_ms": None if push_at is None else push_at - paid_at,
        "close_ms": closed_at - paid_at,
        # When the POS knew it paid: its wait ended, and the QR screen shows
        # "Paid" (for CENTRAPAY_FINAL_WORD_MS, 1.5 s, before it closes).
        "shown_ms": (
            marks["settled"]["at"] - paid_at
            if marks["settled"]
            else closed_at - paid_at
        ),
        "via": (marks["settled"] or {}).get("via"),
    }


def nginx_websocket_lines(state, since_offset):
    """nginx's log lines for /websocket upgrades written after ``since_offset``."""
    path = Path(state["nginx"]["access_log"])
    if not path.exists():
        return []
    with path.open() as log:
        log.seek(since_offset)
        return [line.strip() for line in log if '"GET /websocket' in line]


def odoo_log_offsets(state):
    return {
        s["log"]: Path(s["log"]).stat().st_size if Path(s["log"]).exists() else 0
        for s in state["servers"]
    }


def report_odoo_logs(offsets):
    """Observed, not judged: ERROR/WARNING lines and retries in the servers' logs."""
    say("\nOdoo logs during the check")
    for path, offset in offsets.items():
        with open(path, errors="replace") as log:
            log.seek(offset)
            lines = log.read().splitlines()
        errors = [line for line in lines if " ERROR " in line or " WARNING " in line]
        retries = sum(1 for line in lines if "SERIALIZATION_FAILURE" in line)
        serialize = sum(1 for line in lines if "could not serialize access" in line)
        say(
            f"  {Path(path).name}: {len(errors)} ERROR/WARNING lines, {serialize} "
            f"'could not serialize access', {retries} SERIALIZATION_FAILURE retries"
        )
        for line in errors[:8]:
            say("    " + line[:200])


def log_size(state):
    path = Path(state["nginx"]["access_log"])
    return path.stat().st_size if path.exists() else 0


def latency_runs(args, state, pos, watch, control, checks):
    say(
        f"\nPayments: {args.runs} runs, webhooks {args.webhooks}, through nginx, "
        f"{args.pause:g} s between runs"
    )
    # Not timed: the first payment after a start also waits for the workers
    # that serve it to load the registry, and for the status job's first run.
    warm = one_payment(pos, control)
    say(f"  warm-up (not timed): shown paid {warm['shown_ms']:.0f} ms after paid")
    time.sleep(args.pause)
    start = time.time()
    bus_before = pos.js("window.__topo.bus.length")
    samples = []
    for run in range(1, args.runs + 1):
        sample = one_payment(pos, control)
        samples.append(sample)
        if watch:
            watch.pump()
        hook, push = (
            "none" if sample[key] is None else f"{sample[key]:.0f} ms"
            for key in ("webhook_ms", "push_ms")
        )
        say(
            f"  run {run:2d}: webhook answered {hook}, bus push {push} (from the "
            f"{sample['read_by']}), shown paid {sample['shown_ms']:.0f} ms, QR "
            f"closed {sample['close_ms']:.0f} ms, settled by {sample['via']}"
        )
        time.sleep(args.pause)
    pushes = [s["push_ms"] for s in samples if s["push_ms"] is not None]
    closes = [s["close_ms"] for s in samples]
    shown = [s["shown_ms"] for s in samples]
    say("Results")
    checks.check(
        len(pushes) == len(samples),
        f"paid push received over the bus in {len(pushes)}/{len(samples)} runs",
    )
    hooks = [s["webhook_ms"] for s in samples if s["webhook_ms"] is not None]
    if hooks:
        say(f"  paid -> webhook answered by Odoo: {summary(hooks)}")
    if pushes:
        say(f"  paid -> bus push at the POS: {summary(pushes)}")
    say(f"  paid -> POS shows it paid: {summary(shown)}")
    say(f"  paid -> QR screen closed (1.5 s after 'Paid'): {summary(closes)}")
    by_hook = sum(1 for s in samples if s["read_by"] == "webhook")
    say(
        f"  the push came from the webhook in {by_hook}/{len(samples)} runs (the "
        "rest: from the status job's poll, which got there first or which the "
        "webhook left to, see the logs below)"
    )
    by_push = sum(1 for s in samples if s["via"] == "push")
    checks.check(
        by_push == len(samples),
        f"settled by the call the bus push started in {by_push}/{len(samples)} "
        "runs (the rest: the fallback poll)",
    )
    if args.webhooks == "on":
        checks.check(
            percentile(shown, 95) < FALLBACK_POLL_MS / 2
            and max(shown) < FALLBACK_POLL_MS,
            f"shown paid: p95 {percentile(shown, 95):.0f} ms < "
            f"{FALLBACK_POLL_MS // 2} ms and max {max(shown):.0f} ms < the "
            f"{FALLBACK_POLL_MS} ms fallback poll",
        )
    else:  # the status job polls about once a second
        checks.check(
            max(shown) < FALLBACK_POLL_MS,
            f"shown paid: max {max(shown):.0f} ms < the {FALLBACK_POLL_MS} ms "
            "fallback poll",
        )
    bus_events = pos.js(f"window.__topo.bus.slice({bus_before})")
    checks.check(
        not bus_events,
        f"bus service events during the runs: {[e[1] for e in bus_events] or 'none'} "
        f"(state {pos.js('posmodel.bus.workerState')})",
    )
    if watch:
        watch.pump()
        created = watch.count("Network.webSocketCreated", start)
        closed = watch.count("Network.webSocketClosed", start)
        frames = sum(
            1
            for at, m, p in watch.events
            if m == "Network.webSocketFrameReceived"
            and at >= start
            and "CENTRAPAY_STATUS" in p["response"]["payloadData"]
        )
        checks.check(
            created == 0 and closed == 0,
            f"SharedWorker websocket (CDP): {created} opened, {closed} closed during "
            f"the runs; {frames} frames carried a Centrapay status",
        )
    return start, time.time()


# --- Kill test ----------------------------------------------------------------------


def established(port):
    """Server-side established TCP connections on a local port (from /proc)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def group_pids(pgid):
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def sandbox_status(state, request_id):
    creds = json.loads(Path(state["credentials"]).read_text())
    client = CentrapayClient(creds["base_url"], creds["api_key"])
    return client.get_payment_request(request_id).get("status")


PLANS = (
    "paid just before the kill",
    "paid after the kill",
    "cancelled after the kill",
)


def create_waiting(args, pos, rpc, method, ctx):
    """Requests created over JSON-RPC as the POS creates them, left waiting."""
    session_id = pos.js("posmodel.session.id")
    waiting = []
    for i in range(args.waiting):
        answer = rpc.call(
            "pos.payment.method",
            "centrapay_create_request",
            [method["id"]],
            {
                "amount": 1.0 + i,
                "payment_uuid": str(uuid.uuid4()),
                "order_uuid": str(uuid.uuid4()),
                "order_name": f"topology-check {i + 1}",
                "session_id": session_id,
                "device_id": "topology-check",
            },
            context=ctx,
        )
        if answer.get("error"):
            raise RuntimeError(f"create over JSON-RPC: {answer['error']}")
        waiting.append(
            {
                "request": answer["centrapay_id"],
                "plan": PLANS[i % len(PLANS)],
                "session_id": session_id,
            }
        )
    return waiting


def status_job_server(servers):
    """The server whose cron worker last started the Centrapay status job."""
    latest = {}
    for server in servers:
        started = [
            line[:23]
            for line in Path(server["log"]).read_text(errors="replace").splitlines()
            if "Job 'Centrapay" in line and line.rstrip().endswith("starting")
        ]
        latest[server["name"]] = max(started, default="")
    say(f"  the status job last started: {latest}")
    return max(servers, key=lambda s: latest[s["name"]])


def kill_server(port, victim, checks, down_for):
    """SIGKILL a server's whole process group: master, workers, cron, gevent.

    The demo on ``port`` starts it again once ``down_for`` seconds have passed
    (its restart request), so that the topology is whole after the check.
    """
    restart_request(port, victim["name"]).write_text(str(time.time() + down_for))
    pids = group_pids(victim["pid"])
    os.killpg(victim["pid"], signal.SIGKILL)
    killed_at = time.time()
    say(f"  SIGKILL {victim['name']} (process group {victim['pid']}: {sorted(pids)})")
    deadline = time.monotonic() + 10
    while group_pids(victim["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    checks.check(not group_pids(victim["pid"]), f"{victim['name']} is gone")
    return killed_at


def wait_final(args, rpc, ctx, waiting, killed_at):
    """Poll Odoo's stored statuses (a plain read, which refreshes nothing)."""
    ids = [item["request"] for item in waiting]
    deadline = time.monotonic() + args.final_timeout
    while True:
        rows = rpc.call(
            "centrapay.payment.request",
            "search_read",
            [("centrapay_id", "in", ids)],
            ["centrapay_id", "status"],
            context=ctx,
        )
        found = {row["centrapay_id"]: row["status"] for row in rows}
        for item in waiting:
            item["odoo"] = found.get(item["request"])
            if item["odoo"] in FINAL and "final_after" not in item:
                item["final_after"] = time.time() - killed_at
        if all("final_after" in item for item in waiting):
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.5)


def pos_after_kill(pos, control, pay_url, uuid_, checks):
    paid_at = pay(control, pay_url)
    try:
        pos.wait("window.__cpClosedAt", timeout=60)
    except TimeoutError:
        checks.check(False, "the POS payment paid after the kill: no receipt in 60 s")
        return
    closed_ms = pos.js("window.__cpClosedAt") - paid_at
    settled = pos.js(f"window.__topo.settled[{json.dumps(uuid_)}] || null") or {}
    try:  # the order is validated (synced) through the surviving server
        pos.wait("document.querySelector('.receipt-screen')", timeout=30)
        receipt = f"receipt after {time.time() * 1000 - paid_at:.0f} ms"
    except TimeoutError:
        receipt = "no receipt screen in 30 s"
    checks.check(
        receipt.startswith("receipt"),
        f"the POS payment paid after the kill: QR closed {closed_ms:.0f} ms after "
        f"paid (settled by {settled.get('via')}), {receipt}",
    )


def report_final(state, waiting, checks):
    for item in waiting:
        item["sandbox"] = sandbox_status(state, item["request"])
        expected = "cancelled" if "cancelled" in item["plan"] else "paid"
        after = item.get("final_after")
        detail = (
            f", final at the first read, {after:.1f} s after the kill"
            if after is not None
            else ""
        )
        if "cancel_answer" in item:
            detail += f", the cancel answered {item['cancel_answer']}"
        checks.check(
            item["odoo"] == expected == item["sandbox"],
            f"{item['request']} ({item['plan']}): Odoo {item['odoo']}, sandbox "
            f"{item['sandbox']}{detail}",
        )


def report_deliveries(control, since):
    attempts = [d for d in control.deliveries() if _epoch(d["at"]) >= since]
    failed = [
        f"{d['type']} attempt {d['attempt']}: {d['status'] or d['error']}"
        for d in attempts
        if not d["ok"]
    ]
    say(
        f"  webhook attempts from the sandbox since the kill: {len(attempts)}, "
        f"failed: {'; '.join(failed) or 'none'}"
    )


def kill_test(args, state, pos, rpc, control, method, watch, checks):
    say("\nKill test")
    alive = [s for s in state["servers"] if group_pids(s["pid"])]
    if len(alive) < 2:
        checks.check(False, "the kill test needs two running servers (--servers 2)")
        return
    ctx = {"allowed_company_ids": [method["company_id"][0]]}
    waiting = create_waiting(args, pos, rpc, method, ctx)
    pay_url = start_centrapay_payment(pos)
    in_pos = pay_url.rpartition("/")[2]
    uuid_ = line_uuid(pos, in_pos)
    pos.js(OBSERVER)
    bus_before = pos.js("window.__topo.bus.length")
    say(
        f"  waiting: {len(waiting)} requests created over JSON-RPC, and {in_pos} "
        "in the POS"
    )
    holders = {s["name"]: established(s["gevent_port"]) for s in alive}
    say(f"  established connections on each gevent port: {holders}")
    if args.kill_server == "cron":
        victim = status_job_server(alive)
    elif args.kill_server:
        victim = next(s for s in alive if s["name"] == args.kill_server)
    else:  # the one holding the browser's websocket
        victim = max(alive, key=lambda s: holders[s["name"]])
    survivor = next(s for s in alive if s is not victim)
    for item in waiting:
        if item["plan"] == PLANS[0]:
            control.pay(item["request"])
    killed_at = kill_server(args.port, victim, checks, args.final_timeout + 60)
    for item in waiting:
        if item["plan"] == PLANS[1]:
            control.pay(item["request"])
    pos_after_kill(pos, control, pay_url, uuid_, checks)
    for item in waiting:
        if item["plan"] == PLANS[2]:
            answer = rpc.call(
                "pos.payment.method",
                "centrapay_cancel_request",
                [method["id"]],
                item["request"],
                item["session_id"],
                context=ctx,
            )
            item["cancel_answer"] = answer.get("error") or answer.get("status")
    waiting.append({"request": in_pos, "plan": "in the POS, paid after the kill"})
    wait_final(args, rpc, ctx, waiting, killed_at)
    say(f"  after the kill, through nginx to {survivor['name']}:")
    report_final(state, waiting, checks)
    report_deliveries(control, killed_at - 1)
    events = pos.js(f"window.__topo.bus.slice({bus_before})")
    say(
        "  bus service events after the kill: "
        + (
            ", ".join(f"+{(at / 1000 - killed_at):.1f} s {ev}" for at, ev in events)
            or "none"
        )
    )
    if watch:
        watch.pump()
        say(
            "  SharedWorker websocket (CDP) after the kill: "
            f"{watch.count('Network.webSocketClosed', killed_at)} closed, "
            f"{watch.count('Network.webSocketCreated', killed_at)} opened"
        )
    restart_request(args.port, victim["name"]).write_text(str(time.time()))
    health = f"http://127.0.0.1:{victim['http_port']}/web/health"
    deadline = time.monotonic() + 120
    while http_status(health) != 200 and time.monotonic() < deadline:
        time.sleep(1)
    checks.check(
        http_status(health) == 200, f"{victim['name']} started again by the demo"
    )


def bench(args, state, checks):
    """The status engine's concurrency benchmark, through nginx (see above).

    One run per number of tills and webhook setting, as doc/benchmarks.md's table:
    about 30 payments each (10 rounds of 1 till, 3 of 10, 1 of 50), a minute
    apart so that each starts with an empty rate window.
    """
    say(f"\nConcurrency benchmark through nginx: tills {args.bench}")
    rows, code = [], 0
    for index, tills in enumerate(int(n) for n in args.bench.split(",")):
        if index:
            time.sleep(65)
        cmd = [
            sys.executable,
            str(Path(__file__).with_name("bench_concurrency.py")),
            "--url",
            state["base_url"],
            "--sandbox",
            state["sandbox_url"],
            "--db",
            state["db"],
            "--tills",
            str(tills),
            "--webhooks",
            args.bench_webhooks,
            "--rounds",
            str(min(10, math.ceil(30 / tills))),
            "--seed",
            "1",
            "--timeout",
            str(args.bench_timeout),
            "--json",
        ]
        say("$ " + " ".join(cmd))
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        code = code or done.returncode
        try:
            rows += json.loads(done.stdout)
        except ValueError:
            say(done.stdout[-2000:])
    if rows:
        say(bench_concurrency.table(rows))
        for row in rows:
            say(f"N={row['tills']} webhooks {row['webhooks']}:")
            say("\n".join(bench_concurrency.notes(row)))
    checks.check(
        code == 0 and bool(rows),
        f"the benchmark finished in its time limit (exit {code})",
    )
    for row in rows:
        name = f"N={row['tills']} webhooks {row['webhooks']}"
        checks.check(
            not (row["refusals"] or row["http_429"] or row["rpc_error_count"]),
            f"{name}: {row['refusals']} refusals, {row['http_429']} 429s, "
            f"{row['rpc_error_count']} RPC errors",
        )


def _epoch(value):
    """A sandbox timestamp (ISO-8601, Z) as epoch seconds."""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


# --- Main ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8069, help="the demo's --port")
    parser.add_argument("--state", help="topology.json (default: from --port)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kill-test", action="store_true")
    parser.add_argument(
        "--waiting", type=int, default=6, help="kill test: requests over JSON-RPC"
    )
    parser.add_argument(
        "--webhooks",
        choices=["on", "off"],
        default="on",
        help="off: the sandbox sends none, so only the status job learns of payments",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=1.0,
        help="seconds between payments (0: back to back, which spends the shared "
        "Centrapay rate budget faster than it refills)",
    )
    parser.add_argument(
        "--kill-server",
        help="kill test: odoo1, odoo2, or cron (the server whose cron worker last "
        "started the status job); default: the one holding the browser's websocket",
    )
    parser.add_argument(
        "--bench", help="also run the concurrency benchmark, e.g. 1,10,50 tills"
    )
    parser.add_argument("--bench-webhooks", default="off,on")
    parser.add_argument(
        "--bench-timeout", type=float, default=1500, help="for the benchmark (s)"
    )
    parser.add_argument(
        "--final-timeout",
        type=float,
        default=120,
        help="kill test: seconds to wait for every request to be final",
    )
    args = parser.parse_args()
    state_file = Path(args.state or topology_dir(args.port) / "topology.json")
    state = json.loads(state_file.read_text())
    checks = Checks()
    rpc = Rpc(state["base_url"])
    control = SandboxControl(state["sandbox_url"])
    method = preflight(state, rpc, control, checks)
    log_offset = log_size(state)
    odoo_offsets = odoo_log_offsets(state)
    webhook_url = control.webhook_config()["url"]
    if args.webhooks == "off":
        control.set_webhook(None)
    browser = Browser(port=0)
    watch = None
    runs_span = None
    try:
        pos = browser.page()
        pos.send("Network.enable")
        login_and_open_pos(pos, state["base_url"], state["pos_path"])
        pos.wait("window.posmodel && posmodel.bus", timeout=30)
        pos.js(INSTRUMENT)
        target = find_bus_worker(browser)
        if target and target.get("webSocketDebuggerUrl"):
            watch = WorkerWatch(target["webSocketDebuggerUrl"])
            say(f"\nBus worker: {target['type']} {target['url'].split('?')[0]}")
        else:
            say("\nBus worker: not found over CDP; only the bus service is observed")
        say(f"  bus state at start: {pos.js('window.__topo.initialState')}")
        if args.runs:
            runs_span = latency_runs(args, state, pos, watch, control, checks)
        if args.kill_test:
            kill_test(args, state, pos, rpc, control, method, watch, checks)
        if args.bench:  # last: the POS page stays open, unused, meanwhile
            bench(args, state, checks)
    finally:
        if watch:
            watch.close()
        browser.close()
        control.set_webhook(webhook_url)
    time.sleep(1.5)  # nginx logs a websocket when it closes
    say("\nnginx: websocket upgrades during the check")
    lines = nginx_websocket_lines(state, log_offset)
    for line in lines:
        say("  " + line)
    # The POS's websocket is logged when the browser closes it: its duration
    # ("rt") must cover every payment.
    if runs_span:
        spans = []
        for line in lines:
            if " 101 " in line:
                closed = datetime.fromisoformat(line.split()[0]).timestamp()
                rt = float(line.split(" rt=")[1].split()[0])
                spans.append((closed - rt, closed))
        checks.check(
            any(a <= runs_span[0] + 1 and b >= runs_span[1] - 1 for a, b in spans),
            "one websocket through nginx (101 Switching Protocols) was open from "
            "before the first payment to after the last "
            f"({runs_span[1] - runs_span[0]:.0f} s)",
        )
    report_odoo_logs(odoo_offsets)
    say(
        f"\n{'PASSED' if not checks.failed else 'FAILED'}: "
        f"{len(checks.failed)} failed check(s)"
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

import logging
import os
import selectors
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta

import psycopg2.errors
import psycopg2.pool

from odoo import api, fields, models, sql_db
from odoo.exceptions import UserError
from odoo.tools import SQL

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay import retry
from ..centrapay.pending import next_moment
from ..locks import lock_rows
from .centrapay_rate_limit import read_committed_cursor

_logger = logging.getLogger(__name__)

# When each run of the cron job began, by (database, cron, lastcall): the
# calls of one run share ENGINE_RUN_SECONDS.
_runs = {}
_runs_lock = threading.Lock()
# When this process last renewed the connections it keeps open, by database,
# and for which open tills and methods (``_centrapay_keep_warm``). A forked
# child keeps none of its parent's connections: it renews at its first pass.
_warm_renewed = {}
_warm_lock = threading.Lock()


def _forget_warm_renewed():
    global _warm_lock
    _warm_renewed.clear()
    _warm_lock = threading.Lock()  # a parent's thread may have held it


os.register_at_fork(after_in_child=_forget_warm_renewed)


def _clock():
    """Now, to the microsecond: the engine's half-second periods (the feed,
    the tills' polls) need it. ``fields.Datetime.now()`` drops the fraction,
    which made every period under a second a whole second.
    """
    return datetime.now()  # naive UTC, as the ORM's datetimes (Odoo runs in UTC)


def _in_thread(dbname, function, *args):
    """Run ``function(*args)`` in a worker thread of the engine's."""
    threading.current_thread().dbname = dbname  # for Odoo's log lines
    return function(*args)


# The engine sleeps between passes on the Postgres channel ``centrapay_engine``:
# a webhook (or anything that makes a request due at once) wakes it at once.


class AccountThreads:
    """The accounts' passes of one cron call, each account in a thread of its
    own (at most ``ENGINE_ACCOUNT_THREADS`` at once), so that an account whose
    Centrapay is slow or failing never delays another's.

    Leaving the ``with`` block waits for the passes still running (each starts
    no Centrapay call after the call's deadline), then raises the first error
    one of them raised.
    """

    def __init__(self, dbname, enabled=True):
        self.dbname = dbname
        self.enabled = enabled
        self._running = {}
        self._errors = []
        self._executor = None

    def __enter__(self):
        if self.enabled:
            self._executor = ThreadPoolExecutor(
                max_workers=const.ENGINE_ACCOUNT_THREADS,
                thread_name_prefix="centrapay-account",
            )
        return self

    def start(self, key, function, *args):
        """Run ``function(key, *args)`` unless the account's last one still runs."""
        self._collect()
        if key in self._running:
            return
        self._running[key] = self._executor.submit(
            _in_thread, self.dbname, function, key, *args
        )

    def busy(self):
        """The accounts whose pass still runs."""
        self._collect()
        return set(self._running)

    def _collect(self):
        for key, future in list(self._running.items()):
            if future.done():
                del self._running[key]
                if future.exception() is not None:
                    self._errors.append(future.exception())

    def __exit__(self, exc_type, exc, tb):
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._collect()
        raised = self._errors[0] if self._errors and exc is None else None
        for error in self._errors:
            if error is not raised:
                _logger.error(
                    "Centrapay engine: an account's pass failed", exc_info=error
                )
        if raised is not None:
            raise raised
        return False


class CentrapayEngine(models.AbstractModel):
    """The status engine: the one scheduler of every Centrapay read.

    It runs as the cron ``ir_cron_centrapay_status``. While any request waits,
    each call makes passes every ``ENGINE_PASS_SECONDS`` for
    ``ENGINE_WINDOW_SECONDS``, then reports progress and triggers itself: the
    cron runner calls it again at once (up to its batch limit, then the trigger
    wakes the cron worker again). Between passes it sleeps on a Postgres LISTEN,
    so a webhook wakes it at once. This works the same in the threaded server,
    in prefork cron workers and with several Odoo servers on one database:
    everything shared lives in the database.

    A pass, per Centrapay account (API key):

    1. follows the merchant's activity feed (E10) every half second while
       anything waits, every 30 s while a till is open (about every minute
       where the cron runner wakes only then), once an hour otherwise
       (``IDLE_SWEEP_SECONDS``: with no till open and nothing waiting, the
       hourly feed and settlement reads are its only calls), paging back to the
       last activity already in the ledger; an activity of a pending request
       makes it due now;
    2. reads due requests directly (E2), as often as what the feed leaves of
       the poll budget allows, at most once a second each (expiry, a patron's
       cancel, anything the feed misses); without a feed, that is all there is;
    3. brings the activities of requests that just ended into the ledger (E9)
       when the feed has not.

    Accounts and requests are taken with ``FOR NO KEY UPDATE SKIP LOCKED``, each in a
    short transaction of its own: two engines never handle one at once, and a
    status change reaches the POS as soon as it is committed.
    """

    _name = "centrapay.engine"
    _description = "Centrapay Status Engine"

    # --- Waking and scheduling ----------------------------------------------------

    @api.model
    def _centrapay_wake(self, waiting=None):
        """Run the engine soon: now if it is idle, at its next pass if it runs.

        ``waiting``: the pending requests this is for. While the engine runs
        over their accounts, its next pass takes them and the cron is not
        triggered (``_centrapay_runs_over``).
        """
        self._centrapay_trigger(waiting)
        # Delivered at commit; a running engine is sleeping on it.
        self.env.cr.execute("NOTIFY centrapay_engine")

    @api.model
    def _centrapay_trigger(self, waiting=None):
        """Have the cron runner call the engine, unless it runs over the
        accounts of ``waiting`` already (``_centrapay_runs_over``)."""
        if not (waiting and self._centrapay_runs_over(waiting)):
            self.env.ref("pos_centrapay.ir_cron_centrapay_status")._trigger()

    @api.model
    def _centrapay_schedule(self, waiting, delay):
        """Make ``waiting`` due for a direct read in ``delay`` seconds.

        ``delay`` 0: due at once (no date), so the next pass reads it before
        any feed page, as it reads what a webhook pointed at.
        """
        waiting.write(
            {"next_poll_at": delay > 0 and _clock() + timedelta(seconds=delay)}
        )
        if delay <= 0:
            self._centrapay_wake(waiting)
        else:
            self._centrapay_trigger(waiting)

    @api.model
    def _centrapay_runs_over(self, waiting):
        """Whether a running engine passes over the accounts of ``waiting``,
        pending requests committed before this transaction began.

        A trigger is about 6 ms of CPU and a row per create, which 50 tills
        pressing Pay at once feel. Skipping it is safe: a call that ends clears
        ``engine_seen_at`` and commits before its last look for pending
        requests (``_centrapay_stops``). So a request committed before this
        snapshot is either seen by that look, which triggers the next call, or
        finds the engine stopped here.
        """
        keys = {method._centrapay_rate_key() for method in waiting.payment_method_id}
        Account = self.env["centrapay.account"].sudo()
        accounts = Account.search([("key", "in", list(keys))])
        return len(accounts) == len(keys) and all(
            account._centrapay_engine_alive() for account in accounts
        )

    @api.model
    def _centrapay_stops(self):
        """The call ends: no account is passed over any more (committed, before
        the caller's last look at what is pending; ``_centrapay_runs_over``)."""
        with read_committed_cursor(self.pool) as cr:
            cr.execute(
                "UPDATE centrapay_account SET engine_seen_at = NULL"
                " WHERE engine_seen_at IS NOT NULL"
            )

    @contextmanager
    def _centrapay_own_row(self, model, row_id, condition=None):
        """A transaction of its own holding one row, or an empty record if taken.

        ``FOR NO KEY UPDATE SKIP LOCKED``: another engine holding the row is
        skipped; an activity stored meanwhile (its foreign key) does not wait.
        """
        with self.pool.cursor() as cr:
            env = self.env(cr=cr, su=True)
            record = env[model].browse(row_id)
            cr.execute(
                lock_rows(
                    record._table,
                    SQL("id = %s AND %s", row_id, condition or SQL("TRUE")),
                    no_key=True,
                ),
                log_exceptions=False,
            )
            yield record if cr.fetchone() else record.browse()

    # --- The cron entry point -----------------------------------------------------

    @api.model
    def _centrapay_cron(self):
        """One batch of the cron job: passes for ``ENGINE_WINDOW_SECONDS`` while
        anything waits, then its progress (see class doc).

        ``done``: the requests that ended during this call; ``remaining``: those
        still pending. No Centrapay call starts after the call's deadline, and
        the calls of one run of the job (the cron runner calls it again while
        it reports progress, up to 10 times) share ``ENGINE_RUN_SECONDS``: a
        run stays well inside a cron worker's ``limit_time_real``.
        """
        started = time.monotonic()
        deadline = min(
            started + const.ENGINE_WINDOW_SECONDS,
            self._centrapay_run_started(started) + const.ENGINE_RUN_SECONDS,
        )
        cron = self.env.ref("pos_centrapay.ir_cron_centrapay_status")
        seen = set()
        # Past the deadline, this run of the job has used its time: nothing
        # more in it.
        if time.monotonic() < deadline:
            seen = self._centrapay_passes(deadline)
        self._centrapay_stops()
        pending = self._centrapay_pending_ids()
        ended = seen - pending - {0}
        self.env["ir.cron"]._notify_progress(done=len(ended), remaining=len(pending))
        if pending:
            cron._trigger()  # the next run, at once
        else:
            cron._trigger(
                at=fields.Datetime.now() + timedelta(seconds=const.FEED_IDLE_SECONDS)
            )

    @api.model
    def _centrapay_run_started(self, now):
        """When the cron runner's current run of this job began (``now`` outside
        the runner): its calls share one ``lastcall`` in their context."""
        if not self.env.context.get("ir_cron_progress_id"):
            return now
        run = (
            self.env.cr.dbname,
            self.env.context.get("cron_id"),
            str(self.env.context.get("lastcall")),
        )
        with _runs_lock:
            for key, at in list(_runs.items()):
                if now - at > 2 * const.ENGINE_RUN_SECONDS:
                    del _runs[key]  # runs long over
            return _runs.setdefault(run, now)

    def _centrapay_passes(self, deadline):
        """Passes until ``deadline`` or until nothing waits, each woken early by
        a NOTIFY; returns the requests that waited during them."""
        seen, pending = set(), set()
        # A connection of its own, which stops listening before it goes back to
        # Odoo's pool. In test mode, every cursor is the test's, one thread at
        # a time: accounts are then passed over in turn.
        with (
            sql_db.db_connect(self.env.cr.dbname).cursor() as listen_cr,
            selectors.DefaultSelector() as selector,
            AccountThreads(
                self.env.cr.dbname, enabled=not self.pool.in_test_mode()
            ) as accounts_running,
        ):
            try:
                listen_cr.execute("LISTEN centrapay_engine")
                listen_cr.commit()
                connection = listen_cr._cnx
                selector.register(connection, selectors.EVENT_READ)
                while True:
                    started = time.monotonic()
                    try:
                        pending = self._centrapay_pass(
                            deadline,
                            accounts_running=accounts_running
                            if accounts_running.enabled
                            else None,
                        )
                    except (
                        psycopg2.pool.PoolError,
                        psycopg2.OperationalError,
                    ) as exc:
                        # The database is saturated (all connections taken):
                        # keep the loop alive and try again at the next pass.
                        _logger.info("Centrapay engine pass skipped: %s", exc)
                        pending = pending or seen or {0}
                    seen |= pending
                    left = deadline - time.monotonic()
                    if not pending or left <= 0:
                        break
                    pause = const.ENGINE_PASS_SECONDS - (time.monotonic() - started)
                    if pause > 0 and selector.select(min(pause, left)):
                        connection.poll()
                        connection.notifies.clear()
            finally:
                listen_cr.execute("UNLISTEN *")
                listen_cr.commit()
        return seen

    def _centrapay_pending_ids(self):
        """The requests pending now (a fresh transaction: what the passes
        committed included)."""
        with self.pool.cursor() as cr:
            cr.execute(
                "SELECT id FROM centrapay_payment_request WHERE status IN %s",
                [const.PENDING_STATUSES],
            )
            return {row[0] for row in cr.fetchall()}

    @api.model
    def _centrapay_pass(self, deadline=None, only_key=None, accounts_running=None):
        """One pass over every account (``only_key``: over that one); returns
        the ids of the requests that waited. No Centrapay call starts after
        ``deadline`` (a ``time.monotonic()``; by default a window from now).

        ``accounts_running``: an :class:`AccountThreads` of the cron call, in
        which each account's pass runs in a thread of its own; an account whose
        previous pass still runs (Centrapay slow for it) is left to it, and
        never delays another. Otherwise the accounts are passed over in turn.
        """
        if deadline is None:
            deadline = time.monotonic() + const.ENGINE_WINDOW_SECONDS
        self._centrapay_take_webhooks()
        with self.pool.cursor() as cr:
            env = self.env(cr=cr, su=True)
            methods = (
                env["pos.payment.method"]
                .with_context(active_test=False)
                .search([("use_payment_terminal", "=", "centrapay")])
            )
            pending = env["centrapay.payment.request"].search(
                [("status", "in", const.PENDING_STATUSES)]
            )
            # The background steps' batches, of the accounts this pass goes
            # over: never filled with another's work (a till's poll is for its
            # own account; a slow account's pass still running keeps its own).
            busy = accounts_running.busy() if accounts_running is not None else set()
            method_keys = {method: method._centrapay_rate_key() for method in methods}
            passed = [
                method.id
                for method, key in method_keys.items()
                if only_key in (None, key) and key not in busy
            ]
            # An ended request has no read to come (``next_poll_at`` is cleared
            # as it ends): there, it is when a failed call of the steps below
            # may be tried again (``_centrapay_try_later``).
            not_waiting = [
                "|",
                ("next_poll_at", "=", False),
                ("next_poll_at", "<=", _clock()),
            ]
            # Oldest first: the step leaves one that ended under 10 s ago to
            # the feed, and a batch of those must not hold up an older one.
            ledger = env["centrapay.payment.request"].search(
                [
                    ("ledger_pending", "=", True),
                    ("centrapay_id", "!=", False),
                    ("payment_method_id", "in", passed),
                    *not_waiting,
                ],
                order="status_changed_at, id",
                limit=const.ENGINE_STEP_BATCH,
            )
            external = env["centrapay.payment.request"].search(
                [
                    ("external_pending", "=", True),
                    ("payment_method_id", "in", passed),
                    *not_waiting,
                ],
                limit=const.ENGINE_STEP_BATCH,
            )
            abandoned = self._centrapay_abandoned(env)
            cr.execute(
                SQL(
                    "SELECT id FROM centrapay_payment_request"
                    " WHERE %s AND payment_method_id = ANY(%s) LIMIT %s",
                    abandoned,
                    passed,
                    const.ENGINE_STEP_BATCH,
                )
            )
            give_back = env["centrapay.payment.request"].browse(
                [row[0] for row in cr.fetchall()]
            )
            # The methods with work this pass, archived or not.
            working = (
                pending.payment_method_id
                | ledger.payment_method_id
                | external.payment_method_id
                | give_back.payment_method_id
            )
            # Each method's account once per pass, not once per request.
            key_of = {
                method: method_keys.get(method) or method._centrapay_rate_key()
                for method in methods | working
            }
            # The methods of a till that is open (or opening, or closing).
            open_sessions = env["pos.session"].search([("state", "!=", "closed")])
            open_methods = open_sessions.config_id.payment_method_ids
            env["centrapay.engine"]._centrapay_keep_warm(
                open_sessions, methods.browse(passed) & open_methods, key_of
            )
            accounts = defaultdict(
                lambda: {
                    "methods": [],
                    "pending": [],
                    "ledger": [],
                    "external": [],
                    "give_back": [],
                    "abandoned": abandoned,
                    "open": False,
                }
            )
            for method in methods:
                if method.active or method in working:
                    accounts[key_of[method]]["methods"].append(method.id)
                if method in open_methods:
                    accounts[key_of[method]]["open"] = True
            for request in pending:
                accounts[key_of[request.payment_method_id]]["pending"].append(
                    request.id
                )
            for request in ledger:
                accounts[key_of[request.payment_method_id]]["ledger"].append(request.id)
            for request in external:
                accounts[key_of[request.payment_method_id]]["external"].append(
                    request.id
                )
            for request in give_back:
                accounts[key_of[request.payment_method_id]]["give_back"].append(
                    request.id
                )
        for key, work in accounts.items():
            if not work["methods"] or only_key not in (None, key):
                continue
            if accounts_running is not None:
                accounts_running.start(
                    key, self._centrapay_account_pass, work, deadline
                )
            else:
                self._centrapay_account_pass(key, work, deadline)
        return set(pending.ids)

    def _centrapay_keep_warm(self, sessions, methods, key_of):
        """Keep a connection to Centrapay open in this process for each till of
        an account that may press Pay at once: its create then pays one round
        trip, not three (TCP and TLS handshakes first). No call is made
        (``CentrapayClient.keep_warm``).

        A till is a device that asked for a payment in an open session, or the
        session itself before its first; counted once per account, whatever
        methods of it the till has; at most ``CREATES_AT_ONCE``, the creates
        this process serves at once. Kept ``KEEP_WARM_SECONDS``, renewed when
        the open tills or methods change, else every ``KEEP_WARM_RENEW_SECONDS``
        (the count of devices reads a day's requests: not at every pass).
        Closing the tills ends it.
        """
        methods = methods.filtered(lambda m: m.active and m.sudo().centrapay_api_key)
        if not methods:
            return
        now = time.monotonic()
        tills = (
            tuple(sessions.ids),
            tuple(methods.ids),
            tuple(key_of[method] for method in methods),
        )
        with _warm_lock:
            renewed = _warm_renewed.get(self.env.cr.dbname)
            if (
                renewed
                and renewed[1] == tills
                and now - renewed[0] < const.KEEP_WARM_RENEW_SECONDS
            ):
                return
            _warm_renewed[self.env.cr.dbname] = (now, tills)
        self.env.cr.execute(
            SQL(
                "SELECT DISTINCT payment_method_id,"
                " COALESCE(device_id, terminal_id, '')"
                " FROM centrapay_payment_request"
                " WHERE session_id = ANY(%s) AND payment_method_id = ANY(%s)",
                sessions.ids,
                methods.ids,
            )
        )
        devices, opened, method_of = defaultdict(set), defaultdict(set), {}
        for method_id, device in self.env.cr.fetchall():
            devices[key_of[methods.browse(method_id)]].add(device)
        for session in sessions:
            for method in session.config_id.payment_method_ids & methods:
                opened[key_of[method]].add(session.id)
                method_of.setdefault(key_of[method], method)
        for key, method in method_of.items():
            method._centrapay_keep_warm(
                min(max(len(devices[key]), len(opened[key])), const.CREATES_AT_ONCE)
            )

    @api.model
    def _centrapay_poll(self, key):
        """A till's status poll standing in for a stopped engine (no cron
        worker): one pass over the poll's account, at most once every
        ``POLL_PASS_SECONDS`` per account, whichever till of whichever process
        polls first; the other polls only read the database. Returns whether
        this poll made the pass.
        """
        now = _clock()
        try:
            with self.pool.cursor() as cr:
                account = self.env(cr=cr, su=True)["centrapay.account"]
                account_id = account._centrapay_for_key(key).id
                # An account row another pass holds is being read: skip it.
                cr.execute(
                    SQL(
                        "UPDATE centrapay_account SET polled_at = %s"
                        " WHERE id = (%s) RETURNING id",
                        now,
                        lock_rows(
                            "centrapay_account",
                            SQL(
                                "id = %s AND (polled_at IS NULL OR polled_at <= %s)",
                                account_id,
                                now - timedelta(seconds=const.POLL_PASS_SECONDS),
                            ),
                            no_key=False,
                        ),
                    ),
                    log_exceptions=False,
                )
                taken = bool(cr.fetchone())
        except psycopg2.errors.SerializationFailure:
            return False  # another till's poll took it at the same instant
        if taken:
            self.with_context(centrapay_poll=True)._centrapay_pass(
                deadline=time.monotonic() + const.POLL_PASS_WINDOW_SECONDS,
                only_key=key,
            )
        return taken

    def _centrapay_abandoned(self, env):
        """The SQL condition of a payment the give-back step refunds."""
        window = (
            env["ir.config_parameter"]
            .sudo()
            .get_param(
                "pos_centrapay.abandoned_after_seconds", const.ABANDONED_AFTER_SECONDS
            )
        )
        before = fields.Datetime.now() - timedelta(seconds=int(window))
        # Cancelled by the till and paid anyway (never told paid: once no order
        # claimed it in the window), or partly paid and then dropped by the
        # cashier, who deleted its order (at once: doc §10.3).
        # Not while a failed try waits (``_centrapay_try_later``), nor once
        # given back (``_centrapay_give_back``: refunded, or refused). The
        # index of the requests' ``init`` holds the few that match, and no other.
        return SQL(
            "status = 'paid' AND pos_payment_id IS NULL"
            " AND given_back IS NOT TRUE"
            " AND NOT COALESCE(refunded_by_void, FALSE)"
            " AND ((void_requested AND NOT COALESCE(pos_told_paid, FALSE)"
            "       AND status_changed_at < %s) OR pos_abandoned_at IS NOT NULL)"
            " AND (next_poll_at IS NULL OR next_poll_at <= %s)",
            before,
            _clock(),
        )

    def _centrapay_give_back_step(self, request_ids, abandoned, deadline):
        """Refund an account's payments its tills abandoned (``_centrapay_give_back``);
        ``abandoned``: their SQL condition, as of the pass."""
        for request_id in request_ids:
            if time.monotonic() >= deadline:
                return
            try:
                with self._centrapay_own_row(
                    "centrapay.payment.request", request_id, abandoned
                ) as request:
                    if not request:
                        continue
                    try:
                        waits = request._centrapay_give_back()
                    except (UserError, cp_errors.CentrapayError) as exc:
                        self._centrapay_try_later(request, exc)
                        continue
                    if waits:
                        # Not sent, or its outcome unknown: sent again (its
                        # externalRef makes that safe) as the retry policy says.
                        self._centrapay_try_later(request)
            except psycopg2.errors.TransactionRollbackError:
                # Lost a race on the request (a webhook recorded its refund
                # meanwhile): the refund's externalRef makes the next try safe.
                continue

    def _centrapay_take_webhooks(self):
        """Requests that new webhooks are about are read first, this pass."""
        try:
            with self.pool.cursor() as cr:
                env = self.env(cr=cr, su=True)
                read, refunded, completed = env[
                    "centrapay.webhook.event"
                ]._centrapay_take_new()
                if not read:
                    return
                Request = env["centrapay.payment.request"]
                for centrapay_id, external_ref in completed:
                    env["centrapay.refund"]._centrapay_completed(
                        Request.search([("centrapay_id", "=", centrapay_id)], limit=1),
                        external_ref,
                    )
                env.flush_all()
                # A request held for a Centrapay call (a refund to a slow
                # Centrapay) must not hold up every account's pass: past this,
                # the notifications wait for the next pass.
                cr.execute("SET LOCAL lock_timeout = '500ms'")
                # All or none: a conflict leaves the notifications to the next pass.
                self._centrapay_update_unlocked(
                    Request.search(
                        [
                            ("centrapay_id", "in", list(read)),
                            ("status", "in", const.PENDING_STATUSES),
                        ]
                    ),
                    SQL("next_poll_at = NULL, read_now = true"),
                    wait=True,
                )
                # A refund leaves the status "paid": its trace is in the ledger.
                self._centrapay_update_unlocked(
                    Request.search([("centrapay_id", "in", list(refunded))]),
                    SQL("ledger_pending = true"),
                    wait=True,
                )
        except (
            psycopg2.errors.SerializationFailure,
            psycopg2.errors.LockNotAvailable,
        ):
            return  # another engine took them; or the next pass will

    @api.model
    def _centrapay_read_interval(self, waiting, feed_ok):
        """Seconds between two direct reads of a request, with ``waiting`` of them.

        Direct reads share a pace per account, never more often than once a
        second each: beside a working feed, ``DIRECT_READS_PER_MINUTE`` (with one
        till a request is read every 2 s; with 50, every 100 s: the feed catches
        their payments in under a second, and each is read at its expiry
        anyway); without one, all that direct reads may take of the budget.
        """
        per_minute = (
            const.DIRECT_READS_PER_MINUTE
            if feed_ok
            else const.RATE_READ_LIMIT_PER_MINUTE
        )
        return max(const.DIRECT_READ_MIN_SECONDS, max(1, waiting) * 60 / per_minute)

    def _centrapay_account_pass(self, key, work, deadline):
        # What a webhook pointed at (or is due at once) is read first: no feed
        # page delays it. Whether the feed works is not known yet: such a
        # request, still pending after it, is read again at the pace of an
        # account without one.
        read = set()
        self._centrapay_read_due(
            work["pending"],
            self._centrapay_read_interval(len(work["pending"]), False),
            urgent_only=True,
            read=read,
            deadline=deadline,
        )
        if time.monotonic() >= deadline:
            return
        feed_ok, fed = self._centrapay_feed_step(key, work, deadline)
        interval = self._centrapay_read_interval(len(work["pending"]), feed_ok)
        # A pass that read the feed reads only what it pointed at: routine
        # direct reads fall between two feed reads, where they see sooner what
        # the feed has not yet (with one till, every half second or so).
        budget_left = self._centrapay_read_due(
            work["pending"], interval, urgent_only=fed, read=read, deadline=deadline
        )
        if budget_left and time.monotonic() < deadline:
            self._centrapay_external_step(work["external"], deadline)
        if budget_left and time.monotonic() < deadline:
            self._centrapay_give_back_step(
                work["give_back"], work["abandoned"], deadline
            )
        if budget_left and time.monotonic() < deadline:
            self._centrapay_ledger_step(work["ledger"], feed_ok, deadline)
        if budget_left and time.monotonic() < deadline:
            self.env["centrapay.settlement"]._centrapay_due_sync(
                key,
                period=const.SETTLEMENT_SYNC_SECONDS
                if work["open"] or work["pending"]
                else const.IDLE_SWEEP_SECONDS,
            )

    # --- 1. The activity feed -----------------------------------------------------

    def _centrapay_feed_step(self, key, work, deadline):
        """Follow the account's feed if due: (whether it works, whether it was read)."""
        now = _clock()
        try:
            with self.pool.cursor() as cr:
                account_id = (
                    self.env(cr=cr, su=True)["centrapay.account"]
                    ._centrapay_for_key(key)
                    .id
                )
            with self._centrapay_own_row("centrapay.account", account_id) as account:
                if not account:
                    return account.browse(account_id).feed_ok, False  # another has it
                env = account.env
                methods = env["pos.payment.method"].browse(work["methods"])
                pending = env["centrapay.payment.request"].browse(work["pending"])
                merchant_id = (
                    next((m.centrapay_merchant_id for m in methods if m.active), None)
                    or account.merchant_id
                    or next((r.merchant_id for r in pending if r.merchant_id), None)
                )
                # A till's poll standing in for the engine is not the engine.
                # Once a second is enough to say it is alive (ENGINE_STALE_SECONDS),
                # not at every pass.
                seen = account.engine_seen_at
                values = (
                    {}
                    if self.env.context.get("centrapay_poll")
                    or (seen and now - seen < timedelta(seconds=1))
                    else {"engine_seen_at": now}
                )
                if account.feed_due_ids:
                    # What the feed brought while a read held it, or before
                    # its transaction could see it: linked, and made due at
                    # every pass until it is, when it is news
                    # (``_centrapay_read_feed``).
                    held = (
                        env["centrapay.payment.request"]
                        .browse(account.feed_due_ids)
                        .exists()
                    )
                    env["centrapay.payment.activity"]._centrapay_link(held)
                    news = held.filtered(
                        lambda r: (
                            set(r.activity_ids.mapped("activity_type")) - {"request"}
                        )
                    )
                    account.feed_due_ids = (
                        sorted(self._centrapay_make_due(news)) or False
                    )
                if merchant_id != account.merchant_id:
                    values["merchant_id"] = merchant_id or False
                if not merchant_id:
                    values.update(feed_ok=False, feed_error=False)
                    account.write(values)
                    return False, False
                # Every half second while requests wait (a second when the
                # budget is busy, below), every 30 s while a till is open, once
                # an hour otherwise (see IDLE_SWEEP_SECONDS).
                if pending:
                    period, longest = (
                        const.FEED_BUSY_SECONDS,
                        2 * const.FEED_BUSY_SECONDS,
                    )
                elif work["open"]:
                    period = longest = const.FEED_IDLE_SECONDS
                else:
                    period = longest = const.IDLE_SWEEP_SECONDS
                next_at = account.feed_next_at
                if next_at and next_at > now + timedelta(seconds=longest):
                    # Set for a longer period, before a request or a till came:
                    # it no longer holds.
                    next_at = None
                if next_at and next_at > now:
                    if values:
                        account.write(values)
                    return account.feed_ok, False
                # Half a second while the budget has room; a second once the
                # window is so full that routine reads get no slot.
                if pending and (
                    env["centrapay.rate.limit"]._calls_in_window(key)
                    >= const.RATE_FEED_FAST_BELOW
                ):
                    period = longest
                values["feed_next_at"] = now + timedelta(seconds=period)
                method = methods.filtered("active")[:1] or methods[:1]
                try:
                    self._centrapay_read_feed(account, method, merchant_id, deadline)
                except cp_errors.CentrapayBudgetExhausted as exc:
                    values["feed_next_at"] = now + timedelta(
                        seconds=retry.budget_later(exc.retry_in)
                    )
                    account.write(values)
                    return account.feed_ok, False
                except cp_errors.CentrapayError as exc:
                    if isinstance(exc, cp_errors.CentrapayRateLimited):
                        env["centrapay.rate.limit"]._block(key, exc.retry_after)
                    values.update(
                        feed_ok=False,
                        feed_error=env[
                            "centrapay.payment.request"
                        ]._centrapay_error_message(exc)[:500],
                    )
                    account.write(values)
                    _logger.info("Centrapay feed of account %s: %r", key, exc)
                    return False, False
                values.update(feed_ok=True, feed_error=False, feed_read_at=now)
                account.write(values)
                return True, True
        except psycopg2.errors.SerializationFailure:
            # Lost a race on our own rows: nothing to undo, try next pass.
            return False, False

    def _centrapay_read_feed(self, account, method, merchant_id, deadline):
        """Store new feed activities, and make our pending requests they concern due.

        Newest first, until an activity already stored. A walk that reaches
        ``FEED_MAX_PAGES`` first keeps its next page key, and a later pass goes
        on from there after reading the newest page. Each page takes effect as
        it is stored: when a later page fails (the budget is spent, Centrapay
        errs), what was stored still points the engine at its requests, and the
        walk resumes at the failed page.
        """
        client = method._centrapay_client("feed")
        Activity = self.env["centrapay.payment.activity"].with_env(account.env)
        Request = self.env["centrapay.payment.request"].with_env(account.env)
        walks = [None] + ([account.feed_resume_key] if account.feed_resume_key else [])
        for start in walks:
            if start is not None and time.monotonic() >= deadline:
                break  # the older walk waits for a later pass
            page_key, pages = start, 0
            while True:
                try:
                    page = client.list_payment_activities(
                        merchant_id, page_key=page_key
                    )
                except cp_errors.CentrapayError:
                    if page_key is not None:
                        account.feed_resume_key = page_key
                    raise
                pages += 1
                ids = {Activity._centrapay_key(i)[0] for i in page.items} - {None}
                owners = Activity._centrapay_owners(ids)
                # Ours, as this transaction sees them. Those changed since it
                # began it cannot lock, and those created since it cannot link
                # to: the next pass does both (``feed_due_ids``).
                seen = Request.search_fetch(
                    [("id", "in", [owner[0] for owner in owners.values()])],
                    ["centrapay_id"],
                )
                unseen = {
                    cp_id: owner[0]
                    for cp_id, owner in owners.items()
                    if owner[0] not in seen.ids
                }
                stored = Activity._centrapay_store(
                    page.items,
                    company=method.company_id,
                    owners={k: v for k, v in owners.items() if k not in unseen},
                )
                late = {r.id for r in seen if r.centrapay_id not in owners}
                held = self._centrapay_feed_effects(stored, late=late) | {
                    unseen[a.centrapay_request_id]
                    for a in stored
                    if a.centrapay_request_id in unseen
                }
                if held:
                    account.feed_due_ids = sorted(
                        held | set(account.feed_due_ids or [])
                    )
                valid = sum(
                    1 for i in page.items if None not in Activity._centrapay_key(i)
                )
                if len(stored) < valid or not page.next_page_key:
                    if start is not None:
                        account.feed_resume_key = False
                    break
                if pages >= const.FEED_MAX_PAGES or time.monotonic() >= deadline:
                    account.feed_resume_key = page.next_page_key
                    break
                page_key = page.next_page_key

    def _centrapay_feed_effects(self, activities, late=()):
        """What new feed activities mean for our requests; returns the ids of
        those it could not make due.

        A request locked by another transaction (a direct read in flight, a
        cashier's void or create under way) is not waited for: the feed never
        waits, nor fails after it. Its activity is stored, so the feed will not
        bring it again: the caller keeps it on the account (``feed_due_ids``)
        for the next pass, or a read that began before the payment would leave
        it waiting for its routine read. So are the ``late`` requests (changed
        since this transaction began, which cannot lock them).
        """
        # A refund in the feed is in the ledger already.
        self._centrapay_update_unlocked(
            activities.filtered(
                lambda a: a.activity_type == "refund" and a.request_id.id not in late
            ).request_id,
            SQL("ledger_pending = false"),
        )
        # A request's own creation is no news: only what changes it (a payment,
        # a cancellation, an expiry) makes it worth a read.
        news = activities.filtered(lambda a: a.activity_type != "request").request_id
        return self._centrapay_make_due(
            news.filtered(lambda r: r.id not in late)
        ) | set(news.filtered(lambda r: r.id in late).ids)

    def _centrapay_make_due(self, requests):
        """Put the pending ones of ``requests`` first in line (NULLS FIRST),
        ahead of routine reads; returns the ids of those another holds."""
        due = requests.filtered(lambda r: r.status in const.PENDING_STATUSES)
        done = self._centrapay_update_unlocked(
            due, SQL("next_poll_at = NULL, read_now = true")
        )
        return set(due.ids) - done

    def _centrapay_update_unlocked(self, requests, assignments, wait=False):
        """Set ``assignments`` on those of ``requests`` no other holds (``wait``:
        on all of them, after their holders); returns the ids it set."""
        if not requests:
            return set()
        requests.flush_recordset()
        cr = requests.env.cr
        cr.execute(
            SQL(
                "UPDATE centrapay_payment_request SET %s WHERE id IN (%s) RETURNING id",
                assignments,
                lock_rows(
                    "centrapay_payment_request",
                    SQL("id = ANY(%s)", requests.ids),
                    no_key=True,
                    wait=wait,
                ),
            ),
            # A row changed since this transaction began: the caller's
            # serialization failure, handled there (tried again next pass).
            log_exceptions=False,
        )
        done = {row[0] for row in cr.fetchall()}
        requests.invalidate_recordset(["ledger_pending", "next_poll_at", "read_now"])
        return done

    # --- 2. Direct reads ----------------------------------------------------------

    def _centrapay_read_due(
        self, request_ids, interval, urgent_only=False, read=None, deadline=None
    ):
        """Read due requests, oldest due first; False once the budget is spent.

        ``urgent_only``: only those a webhook or the feed pointed at, and those
        made due at once (a void to retry, an unknown outcome). ``read``: the
        requests read earlier in this pass, skipped (once a pass is enough);
        those read now are added to it.
        """
        read = set() if read is None else read
        request_ids = [i for i in request_ids if i not in read]
        if not request_ids:
            return True
        with self.pool.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    SELECT id FROM centrapay_payment_request
                     WHERE id = ANY(%s) AND status IN %s
                       AND (next_poll_at IS NULL OR next_poll_at <= %s) AND %s
                     ORDER BY next_poll_at NULLS FIRST, id
                    """,
                    list(request_ids),
                    const.PENDING_STATUSES,
                    _clock() + timedelta(seconds=0.25),
                    SQL("(read_now OR next_poll_at IS NULL)")
                    if urgent_only
                    else SQL("TRUE"),
                )
            )
            due = [row[0] for row in cr.fetchall()]
        # A long backlog (50 requests made due at once) is spread over passes,
        # so the feed keeps its pace.
        stop_at = time.monotonic() + const.ENGINE_READS_PER_PASS_SECONDS
        if deadline is not None:
            stop_at = min(stop_at, deadline)
        # Several at once: three payments in one feed page are known after one
        # round trip, not three. A test cursor is the test's one connection,
        # held by the caller's thread: there, one at a time, in this thread.
        at_once = 1 if self.pool.in_test_mode() else const.ENGINE_READS_AT_ONCE
        dbname = self.env.cr.dbname
        with (
            ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="centrapay-read")
            if at_once > 1
            else nullcontext()
        ) as reads:
            run = reads.map if reads else map
            for start in range(0, len(due), at_once):
                if time.monotonic() >= stop_at:
                    break
                batch = due[start : start + at_once]
                read.update(batch)
                outcomes = list(
                    run(
                        lambda request_id: _in_thread(
                            dbname, self._centrapay_process_one, request_id, interval
                        ),
                        batch,
                    )
                )
                if "budget" in outcomes:
                    return False
        return True

    @api.model
    def _centrapay_process_one(self, request_id, interval):
        """Lock, process and commit one request in a transaction of its own.

        Returns ``done``, ``skipped`` (another has it, or a lost race),
        ``budget`` (nothing sent: the account's budget is spent) or ``failed``.
        """
        try:
            # Still due: another engine may have read it since we listed it.
            due = SQL(
                "status IN %s AND (next_poll_at IS NULL OR next_poll_at <= %s)",
                const.PENDING_STATUSES,
                _clock() + timedelta(seconds=0.25),
            )
            with self._centrapay_own_row(
                "centrapay.payment.request", request_id, due
            ) as request:
                if not request:
                    return "skipped"
                env, cr = request.env, request.env.cr
                try:
                    with cr.savepoint():
                        self.with_env(env)._centrapay_process(request, interval)
                except cp_errors.CentrapayBudgetExhausted as exc:
                    request.next_poll_at = _clock() + timedelta(
                        seconds=retry.budget_later(exc.retry_in)
                    )
                    return "budget"
                except (
                    psycopg2.errors.SerializationFailure,
                    psycopg2.OperationalError,
                ):
                    raise
                except Exception as exc:  # noqa: BLE001 (one request must not stall all)
                    # Kept on the request, logged with its traceback, retried later.
                    _logger.exception(
                        "Centrapay status engine failed on request %s", request_id
                    )
                    request.invalidate_recordset()
                    failures = request.error_count + 1
                    request.write(
                        {
                            "last_error": str(exc.args[0] if exc.args else repr(exc))[
                                :500
                            ],
                            "error_count": failures,
                            "next_poll_at": _clock()
                            + timedelta(seconds=retry.later("read", failures)),
                        }
                    )
                    return "failed"
                return "done"
        except psycopg2.errors.SerializationFailure:
            # A webhook or the cashier changed it meanwhile: it stays due, and
            # the next pass reads it. No backoff for our own conflicts.
            return "skipped"

    @api.model
    def _centrapay_process(self, request, interval):
        """One step for one locked, pending request."""
        now = _clock()
        shown_expiry = request.expires_at  # the POS's timeout counts from it
        request._centrapay_refresh()
        if request.status in const.PENDING_STATUSES:
            request._centrapay_void_or_give_up(now, shown_expiry=shown_expiry)
        if request.status in const.PENDING_STATUSES:
            if request.error_count:
                interval = max(interval, retry.later("read", request.error_count))
            next_at = now + timedelta(seconds=interval)
            # Its expiry and the POS's timeout (counted from the expiry the POS
            # was shown) are read on time, whatever the pace of routine reads,
            # and from the urgent share (see _centrapay_refresh).
            moment = next_moment(now, shown_expiry)
            if moment and moment < next_at and not request.error_count:
                next_at = moment
            request.next_poll_at = next_at

    # --- 3. The rest of partly paid requests, taken in another tender -----------

    def _centrapay_external_step(self, request_ids, deadline):
        """Record at Centrapay the tenders the tills took for the rest of
        partly paid requests (``_centrapay_record_external``)."""
        for request_id in request_ids:
            if time.monotonic() >= deadline:
                return
            try:
                with self._centrapay_own_row(
                    "centrapay.payment.request", request_id, SQL("external_pending")
                ) as request:
                    if not request:
                        continue
                    try:
                        with request.env.cr.savepoint():
                            request._centrapay_record_external()
                    except cp_errors.CentrapayBudgetExhausted:
                        return
                    except cp_errors.CentrapayError as exc:
                        self._centrapay_try_later(request, exc)
            except psycopg2.errors.SerializationFailure:
                continue

    # --- 4. The ledger of requests that ended -------------------------------------

    def _centrapay_ledger_step(self, request_ids, feed_ok, deadline):
        """E9 for ended requests whose activities the feed has not brought."""
        settle = fields.Datetime.now() - timedelta(seconds=10)
        for request_id in request_ids:
            if time.monotonic() >= deadline:
                return
            try:
                with self._centrapay_own_row(
                    "centrapay.payment.request", request_id, SQL("ledger_pending")
                ) as request:
                    if not request:
                        continue
                    final_types = {"payment", "paid", "cancellation", "expiry"}
                    if feed_ok and any(
                        a.activity_type in final_types for a in request.activity_ids
                    ):
                        request.ledger_pending = False
                        continue
                    if feed_ok and request.status_changed_at > settle:
                        continue  # give the feed a moment to bring them
                    try:
                        request._centrapay_sync_ledger()
                    except cp_errors.CentrapayBudgetExhausted:
                        return
                    except (
                        cp_errors.CentrapayForbidden,
                        cp_errors.CentrapayNotFound,
                    ) as exc:
                        # Refused for this request (the key is now another
                        # account's): asking again would only spend the budget.
                        # The error stays on the request; a working feed brings
                        # what the ledger lacks, and reconciliation shows it.
                        request._centrapay_note_error(exc)
                        request.ledger_pending = False
                    except cp_errors.CentrapayError as exc:
                        self._centrapay_try_later(request, exc)
            except psycopg2.errors.SerializationFailure:
                continue

    def _centrapay_try_later(self, request, exc=None):
        """A call of the steps for ended requests failed: tried again as the
        retry policy says (1, 2, 4 ... 30 s), not at every pass, where a
        failure that lasts (a key that no longer reaches the request, an
        outage) would spend the account's budget four times a second.

        ``exc``: the failure, kept on the request; none when the call kept
        its own (a refund's ``error``)."""
        if exc is None:
            request.error_count += 1
        else:
            request._centrapay_note_error(exc)
        request.next_poll_at = _clock() + timedelta(
            seconds=retry.later("read", request.error_count)
        )

import logging
import threading
import time
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import psycopg2.errors

from odoo import SUPERUSER_ID, Command, api, fields, sql_db
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL

from .. import const
from ..centrapay import client as client_module
from ..centrapay.client import CentrapayClient
from ..centrapay.pending import POS_TIMEOUT_GRACE_SECONDS
from .common import CentrapayCommon, CommittedRequestMixin, centrapay_method_vals


@tagged("post_install", "-at_install")
class TestCentrapayConnections(CentrapayCommon):
    """What the engine and the RPCs cost on a real network."""

    def api_connections(self):
        return [
            call["connection"]
            for call in self.control.calls()
            if call["path"].startswith("/api")
        ]

    def test_calls_of_an_account_reuse_one_connection(self):
        state = self.create_request()
        self.make_stale(self.record(state))
        self.engine_pass()
        self.cancel(state)
        connections = self.api_connections()
        # The create, the feed, the read and the void: each a new client, all
        # on the connection the first call opened.
        self.assertGreaterEqual(len(connections), 3)
        self.assertEqual(len(set(connections)), 1, connections)

    def open_connections(self, method):
        pool = method._centrapay_client("read")._connection_pool()
        return [c for c in list(pool.pool.queue) if getattr(c, "sock", None)]

    def test_an_open_till_keeps_a_connection_open_for_each_device(self):
        for device in ("till-1", "till-2", "till-3"):
            self.create_request(payment_uuid=device, device_id=device)
        # Another store's method, on no open till: none kept for it.
        closed, _account = self.another_account_method("No till open")
        self.engine_pass()
        # The three tills' creates find a connection each (CentrapayClient.keep_warm).
        deadline = time.monotonic() + 5
        while len(self.open_connections(self.method)) < 3:
            self.assertLess(time.monotonic(), deadline, "not kept open")
            time.sleep(0.05)
        pool = closed._centrapay_client("read")._connection_pool()
        self.assertNotIn(pool, client_module._warming)

    def test_a_tills_rpc_keeps_a_connection_open_in_its_process(self):
        # No pass of the engine: on a prefork server the HTTP worker serving
        # the till is not the engine's process, and keeps its own.
        state = self.create_request()
        self.assertEqual(self.kept_warm(self.method), 1)
        pool = self.pool_of(self.method)
        client_module._warming[pool]["until"] = 0
        deadline = time.monotonic() + 5
        while pool in client_module._warming:
            self.assertLess(time.monotonic(), deadline, "not ended")
            time.sleep(0.05)
        # The engine runs, in another process: the status RPC makes no pass.
        self.env["centrapay.account"].sudo()._centrapay_for_key(
            self.method._centrapay_rate_key()
        ).engine_seen_at = fields.Datetime.now()
        self.env.flush_all()
        self.assertEqual(self.status(state)["poll_ms"], 0)
        self.assertEqual(self.kept_warm(self.method), 1)
        deadline = time.monotonic() + 5
        while not self.open_connections(self.method):
            self.assertLess(time.monotonic(), deadline, "not kept open")
            time.sleep(0.05)

    def till_of_one_account(self, name):
        """An open till with two methods of one account (one API key)."""
        first, account = self.another_account_method(name)
        second = self.env["pos.payment.method"].create(
            centrapay_method_vals(
                self.sandbox,
                self.env["account.journal"].create({"name": name, "type": "bank"}),
                name=f"{first.name} bis",
                centrapay_api_key=account["api_key"],
                centrapay_merchant_config_id=account["merchant_config_id"],
                centrapay_merchant_id=account["merchant_id"],
            )
        )
        config = self.env["pos.config"].create(
            {"name": name, "payment_method_ids": [Command.set((first | second).ids)]}
        )
        config.open_ui()
        config.current_session_id.set_opening_control(0, "")
        return first, second, config.current_session_id

    def pool_of(self, method):
        return method._centrapay_client("read")._connection_pool()

    def kept_warm(self, method):
        return client_module._warming[self.pool_of(method)]["count"]

    def test_a_till_with_two_methods_of_one_account_is_one_till(self):
        first, second, session = self.till_of_one_account("Two methods")
        for method in (first, second):
            self.create_request(
                method=method, session=session, payment_uuid=method.name
            )
        self.engine_pass()
        self.assertEqual(self.kept_warm(first), 1)

    def test_the_tills_are_counted_again_when_they_change(self):
        first, second, session = self.till_of_one_account("Recounted")
        self.create_request(method=first, session=session, device_id="till-1")
        self.engine_pass()
        self.assertEqual(self.kept_warm(first), 1)
        # Two more devices of the same till: counted within
        # KEEP_WARM_RENEW_SECONDS, not at every pass (it reads a day's requests).
        for device in ("till-2", "till-3"):
            self.create_request(
                method=first, session=session, device_id=device, payment_uuid=device
            )
        with patch.object(const, "KEEP_WARM_RENEW_SECONDS", 3600):
            self.engine_pass()
        self.assertEqual(self.kept_warm(first), 1)
        # A till opening or closing is counted at the next pass.
        self.env["pos.config"].create(
            {"name": "Another till", "payment_method_ids": [Command.set(second.ids)]}
        ).open_ui()
        self.engine_pass()
        self.assertEqual(self.kept_warm(first), 3)


@tagged("post_install", "-at_install")
class TestCentrapayExpectedConflicts(CentrapayCommon):
    """Conflicts the engine expects and handles are not logged as errors."""

    centrapay_test_mode = False

    def _race(self, insert):
        """``insert`` in a transaction whose snapshot predates the same insert
        committed by another: the expected serialization failure."""
        with self.registry.cursor() as first:
            first.execute("SELECT 1")  # its snapshot is taken now
            with self.registry.cursor() as second:
                insert(api.Environment(second, SUPERUSER_ID, {}))
            with (
                self.assertNoLogs("odoo.sql_db", "ERROR"),
                # A number: Odoo names its level 25 "INFO" too.
                self.assertLogs("odoo.addons.pos_centrapay", logging.INFO) as logs,
                self.assertRaises(psycopg2.errors.SerializationFailure),
            ):
                insert(api.Environment(first, SUPERUSER_ID, {}))
            first.rollback()
        self.assertTrue(all(r.levelno == logging.INFO for r in logs.records))

    def test_an_activity_stored_twice_at_once_is_no_error(self):
        item = {
            "paymentRequestId": "cp-race-activity",
            "activityNumber": 1,
            "type": "payment",
            "value": {"amount": "350", "currency": "NZD"},
            "createdAt": "2026-01-01T00:00:00.000Z",
        }
        self.addCleanup(
            self._delete, "centrapay_payment_activity", "centrapay_request_id",
            "cp-race-activity",
        )  # fmt: skip
        self._race(
            lambda env: env["centrapay.payment.activity"]._centrapay_store(
                [item], company=env.company
            )
        )

    def test_a_notification_recorded_twice_at_once_is_no_error(self):
        notification = {"id": "race-notification", "type": "payment-request:paid"}
        self.addCleanup(
            self._delete, "centrapay_webhook_event", "notification_id",
            "race-notification",
        )  # fmt: skip
        self._race(
            lambda env: env["centrapay.webhook.event"]._centrapay_register(
                notification, env["centrapay.payment.request"]
            )
        )

    def test_a_till_holding_a_request_its_engine_changed_is_no_error(self):
        # The engine commits a change to a request after the till's RPC began
        # (its snapshot): the till's lock fails to serialize, Odoo runs the RPC
        # again; no "bad query" for it, and none for the engine's own conflict.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            journal = env["account.journal"].create(
                {"name": "Centrapay lock race", "type": "bank"}
            )
            method = env["pos.payment.method"].create(
                centrapay_method_vals(self.sandbox, journal)
            )
            request = env["centrapay.payment.request"].create(
                {
                    "centrapay_id": "cp-lock-race",
                    "status": "new",
                    "amount": 3.5,
                    "currency_id": env.ref("base.NZD").id,
                    "external_ref": "lock-race",
                    "payment_method_id": method.id,
                }
            )
            ids = (journal.id, method.id, request.id)
        self.addCleanup(CommittedRequestMixin._remove_committed, self, *ids)
        with self.registry.cursor() as till:
            till.execute("SELECT 1")  # the till's snapshot is taken now
            with self.registry.cursor() as engine_cr:
                engine_cr.execute(
                    "UPDATE centrapay_payment_request SET read_now = true "
                    "WHERE id = %s",
                    [ids[2]],
                )
            with (
                self.assertNoLogs("odoo.sql_db", "ERROR"),
                self.assertRaises(psycopg2.errors.SerializationFailure),
            ):
                api.Environment(till, SUPERUSER_ID, {})[
                    "centrapay.payment.request"
                ].browse(ids[2])._centrapay_lock(wait=True)
            till.rollback()

    def test_fifteen_tills_take_budget_slots_at_once_without_a_retry(self):
        # Fifteen creates at the same instant: each takes its slot once, waiting
        # its turn on the budget row, and the window counts exactly fifteen.
        key = "budget-storm"
        Budget = api.Environment(self.env.cr, SUPERUSER_ID, {})["centrapay.rate.limit"]
        self.addCleanup(self._delete, "centrapay_rate_limit", "key", key)
        Budget._try_take(key, const.RATE_LIMIT_PER_MINUTE)  # the row exists
        results, conflicts = [], []
        start = threading.Barrier(15)
        real_execute = sql_db.Cursor.execute

        def counting(cr, query, params=None, log_exceptions=True):
            try:
                return real_execute(cr, query, params, log_exceptions)
            except psycopg2.errors.SerializationFailure:
                conflicts.append(query)
                raise

        def till():
            start.wait(10)
            results.append(Budget._try_take(key, const.RATE_LIMIT_PER_MINUTE))

        with patch.object(sql_db.Cursor, "execute", counting):
            threads = [threading.Thread(target=till) for _n in range(15)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        self.assertEqual(results, [(True, 0.0)] * 15)
        self.assertEqual(conflicts, [], "no till retried")
        self.assertEqual(Budget._calls_in_window(key), 16)

    def _delete(self, table, column, value):
        with self.registry.cursor() as cr:
            cr.execute(
                SQL("DELETE FROM %s WHERE %s = %s",
                    SQL.identifier(table), SQL.identifier(column), value),
            )  # fmt: skip


@tagged("post_install", "-at_install")
class TestCentrapayIdle(CentrapayCommon):
    """No Centrapay calls while nothing can change, but the hourly sweep."""

    def _later(self, seconds):
        """As if ``seconds`` had passed since the engine's last reads."""
        self.env.flush_all()
        ago = timedelta(seconds=seconds)
        self.env.cr.execute(
            """
            UPDATE centrapay_account
               SET feed_next_at = feed_next_at - %(ago)s,
                   feed_read_at = feed_read_at - %(ago)s,
                   settlement_next_at = settlement_next_at - %(ago)s,
                   settlement_read_at = settlement_read_at - %(ago)s
            """,
            {"ago": ago},
        )
        self.env.invalidate_all()
        self.control.clear_calls()

    def _calls_of(self, merchant_account_id):
        return [
            f"{call['method']} {call['path']}"
            for call in self.control.calls()
            if call["account"] == merchant_account_id
        ]

    def test_no_calls_while_no_till_is_open_and_nothing_waits(self):
        # A second store whose till is closed, beside the open one.
        _method, closed = self.another_account_method("Closed store")
        open_account = self.sandbox.merchant_account_id
        self.engine_pass()
        # The first pass sweeps both: the feed and the settlements.
        swept = self._calls_of(closed["merchant_account_id"])
        self.assertTrue(any("/payment-activities" in c for c in swept), swept)
        self.assertTrue(any("/settlements" in c for c in swept), swept)
        # Five minutes later: the open till's feed and settlements are read
        # again; nothing of the closed store.
        self._later(301)
        self.engine_pass()
        self.assertTrue(self._calls_of(open_account))
        self.assertEqual(self._calls_of(closed["merchant_account_id"]), [])
        self._later(1800)
        self.engine_pass()
        self.assertEqual(self._calls_of(closed["merchant_account_id"]), [])
        # An hour after the first: the sweep again.
        self._later(1500)
        self.engine_pass()
        swept = self._calls_of(closed["merchant_account_id"])
        self.assertTrue(any("/payment-activities" in c for c in swept), swept)
        self.assertTrue(any("/settlements" in c for c in swept), swept)


@tagged("post_install", "-at_install")
class TestCentrapayPassCost(TransactionCase):
    """A pass finds its background work without reading every request ever
    made (benchmarks §8.9)."""

    def test_the_background_steps_find_their_work_through_indexes(self):
        Request = self.env["centrapay.payment.request"]
        searches = {
            "centrapay_payment_request_ledger_idx": Request._search(
                [("ledger_pending", "=", True), ("centrapay_id", "!=", False)]
            ).select(),
            "centrapay_payment_request_external_idx": Request._search(
                [("external_pending", "=", True)]
            ).select(),
            "centrapay_payment_request_give_back_idx": SQL(
                "SELECT id FROM centrapay_payment_request WHERE %s",
                self.env["centrapay.engine"]._centrapay_abandoned(self.env),
            ),
        }
        # As with a year of requests, where reading them all costs the most.
        self.env.cr.execute("SET LOCAL enable_seqscan = off")
        for index, search in searches.items():
            self.env.cr.execute(SQL("EXPLAIN %s", search))
            plan = "\n".join(row[0] for row in self.env.cr.fetchall())
            self.assertIn(index, plan)
        self.env.cr.execute("RESET enable_seqscan")

    def test_the_give_back_index_holds_only_what_the_step_may_refund(self):
        self.env.cr.execute(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
            " JOIN pg_class ON pg_class.oid = indexrelid WHERE relname = %s",
            ["centrapay_payment_request_give_back_idx"],
        )
        held = SQL(self.env.cr.fetchone()[0])
        method = self.env["pos.payment.method"].search([], limit=1)
        common = {
            "status": "paid",
            "amount": 5.0,
            "currency_id": self.env.ref("base.NZD").id,
            "payment_method_id": method.id,
            "void_requested": True,
        }
        Request = self.env["centrapay.payment.request"]
        refunded = Request.create(
            dict(common, external_ref="idx-refunded", refunded_by_void=True)
        )
        told = Request.create(dict(common, external_ref="idx-told", pos_told_paid=True))
        lost = Request.create(dict(common, external_ref="idx-lost"))
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT id FROM centrapay_payment_request WHERE id = ANY(%s) AND %s",
                (refunded | told | lost).ids,
                held,
            )
        )
        self.assertEqual([row[0] for row in self.env.cr.fetchall()], lost.ids)

    def test_an_update_drops_the_first_give_back_index(self):
        # 18.0.1.1.0's first build made it; create_index would keep it as is.
        old = "centrapay_payment_request_abandoned_idx"
        self.env.cr.execute(
            f"CREATE INDEX {old} ON centrapay_payment_request (id)"
            " WHERE status = 'paid'"
        )
        self.env["centrapay.payment.request"].init()
        self.env.cr.execute("SELECT 1 FROM pg_class WHERE relname = %s", [old])
        self.assertFalse(self.env.cr.fetchall())


@tagged("post_install", "-at_install")
class TestCentrapayHonestCron(CommittedRequestMixin, CentrapayCommon):
    """The cron is an honest batch: bounded calls, real progress, no leftovers."""

    centrapay_test_mode = False

    def _runner_call(self, lastcall):
        """Call the engine as the cron runner does, within one run of the job
        (``lastcall``); returns (seconds taken, the call's progress)."""
        cron = self.env.ref("pos_centrapay.ir_cron_centrapay_status")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        engine = api.Environment(
            self.env.cr,
            SUPERUSER_ID,
            {"ir_cron_progress_id": progress.id, "cron_id": cron.id,
             "lastcall": lastcall},
        )["centrapay.engine"]  # fmt: skip
        started = time.monotonic()
        engine._centrapay_cron()
        return time.monotonic() - started, progress

    def _status(self, request_id):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT status FROM centrapay_payment_request WHERE id = %s",
                [request_id],
            )
            return cr.fetchone()[0]

    def test_a_call_ends_on_time_when_centrapay_is_slow(self):
        _created, ids = self._committed_request("slow-feed")
        client = self.sandbox_client()
        for n in range(130):  # five pages of feed to walk
            client.create_payment_request(
                config_id=self.sandbox.merchant_config_id,
                amount=Decimal("1.00"),
                currency="NZD",
                external_ref=f"slow-feed-other-{n}",
            )
        self.control.add_fault(
            method="GET", path="/api/payment-activities", kind="latency",
            seconds=3.0, times=20,
        )  # fmt: skip
        took, progress = self._runner_call("2026-01-01 00:00:00")
        # No Centrapay call starts after the window: the last one ends at most
        # one (slow) call after it.
        self.assertLess(took, const.ENGINE_WINDOW_SECONDS + 3.5)
        self.assertEqual((progress.done, progress.remaining), (0, 1))

    def test_the_calls_of_one_run_share_its_time_and_report_progress(self):
        created, ids = self._committed_request("run-budget", merchant_id=False)
        with patch.object(const, "ENGINE_RUN_SECONDS", 2):
            took, progress = self._runner_call("2026-01-01 00:00:00")
            self.assertLess(took, 3.5)
            self.assertEqual((progress.done, progress.remaining), (0, 1))
            self.assertTrue(self.calls("GET", created["id"]))
            # The runner calls again in the same run: its time is spent.
            self.control.clear_calls()
            took, progress = self._runner_call("2026-01-01 00:00:00")
            self.assertLess(took, 0.5)
            self.assertEqual(self.control.calls(), [])
            self.assertEqual((progress.done, progress.remaining), (0, 1))
            # The next run: the patron pays meanwhile, the call sees it end.
            self.control.pay(created["id"])
            took, progress = self._runner_call("2026-01-01 00:01:00")
        self.assertEqual(self._status(ids[2]), "paid")
        self.assertEqual((progress.done, progress.remaining), (1, 0))

    def test_no_listening_connection_is_left_in_the_pool(self):
        self._committed_request("listen", merchant_id=False)
        with patch.object(const, "ENGINE_WINDOW_SECONDS", 0.5):
            self._runner_call("2026-01-01 00:00:00")
        listening = []
        for cnx, used, _last_used in list(sql_db._Pool._connections):
            if used or cnx.closed:
                continue
            with cnx.cursor() as cr:
                cr.execute("SELECT array_agg(c) FROM pg_listening_channels() c")
                listening.extend(cr.fetchone()[0] or [])
            cnx.rollback()
        self.assertEqual(listening, [])


@tagged("post_install", "-at_install")
class TestCentrapayWithoutCron(CentrapayCommon):
    """No cron worker: the tills' polls make the engine's passes, one per
    account a second, however many tills poll."""

    def test_the_tills_polls_drive_the_account_without_hammering(self):
        states = [
            self.create_request(2 + n, payment_uuid=f"till-{n}") for n in range(5)
        ]
        self.control.pay(states[2]["centrapay_id"])
        self.control.clear_calls()
        seen = {}
        for _round in range(3):
            for n, state in enumerate(states):
                seen[n] = self.status(state)["status"]
        self.assertEqual(seen, {0: "new", 1: "new", 2: "paid", 3: "new", 4: "new"})
        feed_reads = self.calls("GET", "/api/payment-activities")
        self.assertIn(len(feed_reads), (1, 2), "one pass a second, not one a till")
        # No request read on its own: the feed's payment says which is paid
        # (doc §15.25).
        for state in states:
            self.assertEqual(self.calls("GET", state["centrapay_id"]), [])

    def test_the_server_tells_the_till_when_to_poll(self):
        state = self.create_request()
        # No engine: a waiting till polls every half second; with eight
        # waiting, each every 0.8 s (10 polls a second per method at most).
        self.assertEqual(state["poll_ms"], 500, "no engine")
        self.assertEqual(self.status(state)["poll_ms"], 500)
        for n in range(7):
            self.create_request(payment_uuid=f"line-{n + 3}")
        self.assertEqual(self.status(state)["poll_ms"], 800)
        # The engine passes over the account: the bus will tell the till.
        self.engine_pass()
        self.assertEqual(self.status(state)["poll_ms"], 0)
        self.assertEqual(self.create_request(payment_uuid="line-2")["poll_ms"], 0)
        # A final request is never polled.
        self.control.pay(state["centrapay_id"])
        time.sleep(1.1)  # the feed and the direct reads are due again
        self.engine_pass()
        self.assertEqual(self.status(state)["status"], "paid")
        self.assertEqual(self.status(state)["poll_ms"], 0)


@tagged("post_install", "-at_install")
class TestCentrapayTriggers(CentrapayCommon):
    """A create wakes the cron runner only when no engine runs over its account."""

    def triggers(self):
        cron = self.env.ref("pos_centrapay.ir_cron_centrapay_status")
        return (
            self.env["ir.cron.trigger"].sudo().search_count([("cron_id", "=", cron.id)])
        )

    def test_a_running_engine_is_not_triggered_by_each_create_and_a_stopped_one_is(
        self,
    ):
        self.engine_pass()
        before = self.triggers()
        first = self.create_request(payment_uuid="line-1")
        self.create_request(payment_uuid="line-2")
        self.assertEqual(self.triggers(), before, "its next pass takes them")
        self.control.pay(first["centrapay_id"])
        time.sleep(1.1)  # the feed is due again
        self.engine_pass()
        self.assertEqual(self.status(first)["status"], "paid")
        # The call ends (its run's time spent): it says it stopped before its
        # last look at what waits, which triggers the next call; a create
        # after that look triggers it itself.
        before = self.triggers()
        with patch.object(const, "ENGINE_RUN_SECONDS", 0):
            self.env["centrapay.engine"]._centrapay_cron()
        self.env.invalidate_all()
        self.assertEqual(self.triggers(), before + 1, "line-2 waits")
        self.create_request(payment_uuid="line-3")
        self.assertEqual(self.triggers(), before + 2)


@tagged("post_install", "-at_install")
class TestCentrapayIndependentAccounts(TestCentrapayHonestCron):
    """A slow or failing account never delays another's payments."""

    # Its parent's tests run once, in their own class.
    test_a_call_ends_on_time_when_centrapay_is_slow = None
    test_the_calls_of_one_run_share_its_time_and_report_progress = None
    test_no_listening_connection_is_left_in_the_pool = None

    def _fast_store_request(self):
        """Store B: a pending request on another Centrapay account, served as
        usual; returns its Centrapay id and its record's id."""
        other = self.control.add_account("Fast store")
        created = CentrapayClient(
            self.sandbox.base_url, other["api_key"]
        ).create_payment_request(
            config_id=other["merchant_config_id"],
            amount=Decimal("2.00"),
            currency="NZD",
            external_ref="fast-store",
        )
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            journal = env["account.journal"].create(
                {"name": "Centrapay fast", "type": "bank"}
            )
            method = env["pos.payment.method"].create(
                centrapay_method_vals(
                    self.sandbox, journal, name="Centrapay fast store",
                    centrapay_api_key=other["api_key"],
                    centrapay_merchant_config_id=other["merchant_config_id"],
                    centrapay_merchant_id=other["merchant_id"],
                    centrapay_merchant_account_id=other["merchant_account_id"],
                )
            )  # fmt: skip
            fast_id = (
                env["centrapay.payment.request"]
                .create(
                    {
                        "centrapay_id": created["id"],
                        "status": "new",
                        "amount": 2.0,
                        "currency_id": env.ref("base.NZD").id,
                        "external_ref": "fast-store",
                        "payment_method_id": method.id,
                    }
                )
                .id
            )
        self.addCleanup(self._remove_committed, journal.id, method.id, fast_id)
        return created["id"], fast_id

    def _seconds_to_know_paid(self, centrapay_id, request_id):
        """Run a cron call; 1.5 s in, the patron pays ``centrapay_id``: the
        seconds until the server knows (at most 10), once the call ended."""
        call = threading.Thread(target=self._runner_call, args=["2026-01-01"])
        call.start()
        time.sleep(1.5)  # the slow account's first call is under way
        self.control.pay(centrapay_id)
        paid_at = time.monotonic()
        while self._status(request_id) != "paid" and time.monotonic() - paid_at < 10:
            time.sleep(0.05)
        known_after = time.monotonic() - paid_at
        call.join(30)
        self.assertEqual(self._status(request_id), "paid")
        return known_after

    def test_a_slow_account_does_not_delay_another(self):
        # Store A: Centrapay takes 6 s to answer each read of its request.
        slow, slow_ids = self._committed_request("slow-store", merchant_id=False)
        self.control.add_fault(
            method="GET", path=f"/api/payment-requests/{slow['id']}",
            kind="latency", seconds=6.0, times=10,
        )  # fmt: skip
        fast = self._fast_store_request()
        known_after = self._seconds_to_know_paid(*fast)
        self.assertLess(known_after, 2.0, "B waited for A's slow Centrapay")
        self.assertEqual(self._status(slow_ids[2]), "new")

    def test_a_slow_give_back_does_not_delay_another_account(self):
        """Store A's till abandoned a paid payment, and Centrapay takes 6 s to
        answer its refund: B's payments are not held up by it."""
        paid, paid_ids = self._committed_request("slow-give-back", merchant_id=False)
        self.control.pay(paid["id"])
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE centrapay_payment_request SET status = 'paid',"
                " void_requested = TRUE, status_changed_at = %s WHERE id = %s",
                [fields.Datetime.now() - timedelta(days=1), paid_ids[2]],
            )
        self.addCleanup(self._remove_refunds, paid_ids[2])
        refund = f"/api/payment-requests/{paid['id']}/refund"
        self.control.add_fault(
            method="POST", path=refund, kind="latency", seconds=6.0, times=10
        )
        fast = self._fast_store_request()
        known_after = self._seconds_to_know_paid(*fast)
        self.assertTrue(self.calls("POST", refund), "A's give-back was under way")
        self.assertLess(known_after, 2.0, "B waited for A's slow give-back")

    def _remove_refunds(self, request_id):
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM centrapay_refund WHERE request_id = %s", [request_id]
            )


@tagged("post_install", "-at_install")
class TestCentrapaySessionShare(CentrapayCommon):
    """Each POS session has a fair share of the cashier's budget."""

    def test_one_till_cannot_starve_the_others(self):
        config = self.env["pos.config"].create(
            {
                "name": "Centrapay Till 2",
                "payment_method_ids": [Command.set(self.method.ids)],
            }
        )
        config.open_ui()
        other = config.current_session_id
        other.set_opening_control(0, "")
        # A script with a cashier's login creates requests for one session as
        # fast as it can, until it is refused.
        created = 0
        for n in range(const.RATE_LIMIT_PER_MINUTE):
            state = self.create_request(1, payment_uuid=f"hog-{n}")
            if state.get("error"):
                break
            created += 1
        self.assertLessEqual(created, const.RATE_LIMIT_PER_MINUTE // 2)
        # The other till still takes payments.
        state = self.create_request(2, payment_uuid="fair", session_id=other.id)
        self.assertFalse(state.get("error"), state)
        self.assertEqual(state["status"], "new")


@tagged("post_install", "-at_install")
class TestCentrapayFeedNeverWaits(TestCentrapayHonestCron):
    """The feed never waits for a request a cashier's void holds."""

    test_a_call_ends_on_time_when_centrapay_is_slow = None
    test_the_calls_of_one_run_share_its_time_and_report_progress = None
    test_no_listening_connection_is_left_in_the_pool = None

    def test_the_feed_skips_a_request_a_cashier_holds(self):
        created, ids = self._committed_request("held-1")
        with self.registry.cursor() as cr:
            # Its routine read is far off, as with many requests waiting.
            cr.execute(
                "UPDATE centrapay_payment_request SET next_poll_at = "
                "(now() at time zone 'UTC') + interval '10 minutes' WHERE id = %s",
                [ids[2]],
            )
        self.control.pay(created["id"])
        with self.registry.cursor() as cashier:
            # The cashier's void holds the row.
            api.Environment(cashier, SUPERUSER_ID, {})[
                "centrapay.payment.request"
            ].browse(ids[2])._centrapay_lock(wait=True)
            releaser = threading.Timer(5, cashier.rollback)
            releaser.start()
            started = time.monotonic()
            engine = api.Environment(self.env.cr, SUPERUSER_ID, {})["centrapay.engine"]
            engine._centrapay_pass()
            took = time.monotonic() - started
            releaser.cancel()
            releaser.join()
        self.assertLess(took, 3, "the feed waited for the cashier's lock")
        # The feed stored the payment all the same; the request is read later.
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM centrapay_payment_activity "
                "WHERE centrapay_request_id = %s AND activity_type = 'payment'",
                [created["id"]],
            )
            self.assertEqual(cr.fetchone()[0], 1)
        # The feed will not bring that payment again, yet it is not forgotten
        # (it might have been held by a read that began before the payment):
        # the next pass makes it due and reads it, not its routine read.
        self.assertEqual(self._status(ids[2]), "new")
        engine._centrapay_pass()
        self.assertEqual(self._status(ids[2]), "paid")

    def _pay_during_the_feeds_round_trip(self, created, commit):
        """A pass whose feed Centrapay answers 2 s after it was sent; meanwhile
        ``commit`` (the create's commit) runs, the till shows the QR code and
        the patron pays: the answer has the payment."""
        self.control.add_fault(
            method="GET", path="/api/payment-activities", kind="latency",
            seconds=2.0, times=1,
        )  # fmt: skip

        def create_commits_and_patron_pays():
            with self.registry.cursor() as cr:
                commit(api.Environment(cr, SUPERUSER_ID, {}))
            self.control.pay(created["id"])

        till = threading.Timer(0.7, create_commits_and_patron_pays)
        till.start()
        engine = api.Environment(self.env.cr, SUPERUSER_ID, {})["centrapay.engine"]
        engine._centrapay_pass()
        till.join()
        return engine

    def _remove_late(self, request_id):
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM centrapay_payment_activity WHERE request_id = %s",
                [request_id],
            )
            cr.execute(
                "DELETE FROM centrapay_payment_request WHERE id = %s", [request_id]
            )

    def _payment_owner(self, created):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT request_id FROM centrapay_payment_activity "
                "WHERE centrapay_request_id = %s AND activity_type = 'payment'",
                [created["id"]],
            )
            return cr.fetchall()

    def test_a_payment_the_feed_brings_during_its_requests_create_is_ours(self):
        created, ids = self._committed_request("late-1")
        with self.registry.cursor() as cr:
            # The create's first commit: a draft, its Centrapay id not known yet;
            # its routine read is far off, as with many requests waiting.
            cr.execute(
                "UPDATE centrapay_payment_request SET status = 'draft',"
                " centrapay_id = NULL, next_poll_at = (now() at time zone 'UTC')"
                " + interval '10 minutes' WHERE id = %s",
                [ids[2]],
            )
        engine = self._pay_during_the_feeds_round_trip(
            created,
            lambda env: env.cr.execute(
                "UPDATE centrapay_payment_request SET status = 'new',"
                " centrapay_id = %s WHERE id = %s",
                [created["id"], ids[2]],
            ),
        )
        self.assertEqual(self._payment_owner(created), [(ids[2],)], "another's")
        # The feed will not bring it again: the next pass reads the request,
        # not its routine read ten minutes later.
        engine._centrapay_pass()
        self.assertEqual(self._status(ids[2]), "paid")

    def test_a_payment_the_feed_brings_with_its_whole_request_is_ours(self):
        created, ids = self._committed_request("late-2")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            values = (
                env["centrapay.payment.request"]
                .browse(ids[2])
                .read(
                    ["amount", "currency_id", "external_ref", "payment_method_id"],
                    load=None,
                )[0]
            )
            env["centrapay.payment.request"].browse(ids[2]).unlink()
        late = []

        def create(env):
            request = env["centrapay.payment.request"].create(
                {
                    **{k: v for k, v in values.items() if k != "id"},
                    "centrapay_id": created["id"],
                    "status": "new",
                    "next_poll_at": "2099-01-01 00:00:00",
                }
            )
            late.append(request.id)
            self.addCleanup(self._remove_late, request.id)

        engine = self._pay_during_the_feeds_round_trip(created, create)
        # Stored, and linked and read at the next pass (its row was not there
        # for the feed's transaction, which could not refer to it).
        self.assertEqual(len(self._payment_owner(created)), 1)
        engine._centrapay_pass()
        self.assertEqual(self._payment_owner(created), [(late[0],)], "another's")
        self.assertEqual(self._status(late[0]), "paid")
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT activity_type FROM centrapay_payment_activity "
                "WHERE centrapay_request_id = %s AND request_id IS NULL",
                [created["id"]],
            )
            self.assertEqual(cr.fetchall(), [], "its creation, too, is ours")


@tagged("post_install", "-at_install")
class TestCentrapayFeedPace(CentrapayCommon):
    """While a request waits, the feed is read every half second: a payment is
    known in about half a second plus two round trips, not a second."""

    def test_the_feed_is_read_every_half_second(self):
        self.create_request()
        self.engine_pass()
        self.control.clear_calls()
        self.engine_pass()
        self.assertEqual(
            self.calls("GET", "/api/payment-activities"), [], "not due yet"
        )
        for n in range(1, 5):
            time.sleep(0.6)
            self.engine_pass()
            self.assertEqual(
                len(self.calls("GET", "/api/payment-activities")),
                n,
                "a period under a second is not rounded to a whole second",
            )

    def paid_with_ledger_answering(self, status):
        """A paid request whose activities (E9) Centrapay answers with
        ``status``, and no feed (so the ledger is read directly), while
        another request waits (so the passes go on); returns it, the ledger's
        path, after the passes that make it paid and read its ledger once."""
        self.create_request(payment_uuid="line-waiting")
        state = self.create_request(payment_uuid="line-paid")
        request = self.record(state)
        ledger = f"/api/payment-requests/{state['centrapay_id']}/activities"
        self.control.add_fault(
            kind="status", status=500, path="/api/payment-activities", times=None
        )
        self.control.add_fault(kind="status", status=status, path=ledger, times=None)
        self.control.pay(state["centrapay_id"])
        self.make_stale(request)
        self.control.clear_calls()
        for _ in range(4):
            self.engine_pass()
        self.assertEqual(request.status, "paid")
        return request, ledger

    def test_a_failed_ledger_read_waits_as_the_retry_policy_says(self):
        """An ended request whose activities Centrapay fails to give (E9) is
        tried again 1, 2, 4 ... 30 s later, not at every pass: an outage would
        spend the account's budget four times a second."""
        request, ledger = self.paid_with_ledger_answering(500)
        self.assertTrue(request.ledger_pending)
        self.assertEqual(len(self.calls("GET", ledger)), 1)
        time.sleep(1.1)
        self.engine_pass()
        self.assertEqual(len(self.calls("GET", ledger)), 2, "tried again later")

    def paid_without_ledger(self, prefix):
        """Three requests paid, their activities not yet in the ledger."""
        requests = self.env["centrapay.payment.request"]
        for n in range(3):
            state = self.create_request(payment_uuid=f"{prefix}-{n}")
            self.control.pay(state["centrapay_id"])
            requests |= self.record(state)
        self.make_stale(requests)
        self.engine_pass()
        self.assertEqual(set(requests.mapped("status")), {"paid"})
        requests.activity_ids.sudo().unlink()
        return requests

    def test_requests_just_ended_never_hold_up_an_older_ledger(self):
        """The ledger step leaves a request that ended under 10 s ago to the
        feed; more of those than a pass takes (``ENGINE_STEP_BATCH``) never
        keep an older one from its read (E9)."""
        requests = self.paid_without_ledger("ended")
        # The oldest ended a minute ago.
        now = fields.Datetime.now()
        requests.sudo().write({"ledger_pending": True, "status_changed_at": now})
        requests[:1].sudo().status_changed_at = now - timedelta(minutes=1)
        oldest = requests.sorted("status_changed_at")[:1]
        self.control.clear_calls()
        with patch.object(const, "ENGINE_STEP_BATCH", 2):
            self.engine_pass()
        ledger = f"/api/payment-requests/{oldest.centrapay_id}/activities"
        self.assertEqual(len(self.calls("GET", ledger)), 1)
        self.assertFalse(oldest.ledger_pending)
        self.assertTrue(oldest.activity_ids)

    def test_another_accounts_work_never_fills_a_poll_passes_batch(self):
        """A till's poll makes a pass over its own account (no cron worker):
        the background steps' batches hold only that account's work, however
        much older work another account has (``ENGINE_STEP_BATCH``)."""
        requests = self.paid_without_ledger("two")
        other_method, _account = self.another_account_method("Other store")
        ours, theirs = requests[2:], requests[:2]
        now = fields.Datetime.now()
        requests.sudo().write({"ledger_pending": True})
        # The other account's two ended first: the oldest in any one batch.
        theirs.sudo().write(
            {
                "payment_method_id": other_method.id,
                "status_changed_at": now - timedelta(minutes=5),
            }
        )
        ours.sudo().status_changed_at = now - timedelta(minutes=1)
        self.env.flush_all()
        self.control.clear_calls()
        with patch.object(const, "ENGINE_STEP_BATCH", 2):
            self.env["centrapay.engine"]._centrapay_pass(
                only_key=self.method._centrapay_rate_key()
            )
        self.env.invalidate_all()
        ledger = f"/api/payment-requests/{ours.centrapay_id}/activities"
        self.assertEqual(len(self.calls("GET", ledger)), 1)
        self.assertFalse(ours.ledger_pending)
        self.assertTrue(all(theirs.mapped("ledger_pending")))

    def test_a_ledger_read_refused_for_good_is_not_asked_again(self):
        """403 (the key no longer reaches the request) or 404: asked once, then
        left, with the error on the request; not every 30 s for ever."""
        request, ledger = self.paid_with_ledger_answering(403)
        self.assertEqual(len(self.calls("GET", ledger)), 1)
        self.assertFalse(request.ledger_pending)
        self.assertTrue(request.last_error)
        time.sleep(1.1)
        self.engine_pass()
        self.assertEqual(len(self.calls("GET", ledger)), 1, "not asked again")

    def fill_window(self, calls):
        """As if the account had made ``calls`` calls in the last few seconds."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE centrapay_rate_limit SET calls = array_fill("
            "extract(epoch from now())::float8, ARRAY[%s]) WHERE key = %s",
            [calls, self.method._centrapay_rate_key()],
        )

    def test_a_busy_window_keeps_the_feed_fast_until_routine_reads_are_shut_out(
        self,
    ):
        self.create_request()
        self.engine_pass()
        # Ten tills paying every 20 s: 120 feed reads, 30 creates and 30 reads
        # a minute. Under the routine reads' limit the feed keeps its pace.
        self.fill_window(const.RATE_READ_LIMIT_PER_MINUTE - 1)
        self.control.clear_calls()
        for n in (1, 2):
            time.sleep(0.6)
            self.engine_pass()
            self.assertEqual(len(self.calls("GET", "/api/payment-activities")), n)
        # At it, the feed slows to one read a second.
        self.fill_window(const.RATE_READ_LIMIT_PER_MINUTE)
        time.sleep(0.6)
        self.engine_pass()
        self.assertEqual(
            len(self.calls("GET", "/api/payment-activities")), 2, "one a second now"
        )
        time.sleep(0.5)
        self.engine_pass()
        self.assertEqual(len(self.calls("GET", "/api/payment-activities")), 3)

    def test_a_full_window_shuts_out_routine_reads_and_the_feed_but_not_an_expiry(
        self,
    ):
        state = self.create_request()
        request = self.record(state)
        self.engine_pass()
        self.fill_window(const.RATE_FEED_LIMIT_PER_MINUTE + 5)
        # Due for a routine read (the safety net beside the feed): no slot.
        due = {"next_poll_at": fields.Datetime.now() - timedelta(seconds=1)}
        request.sudo().write(due)
        self.control.clear_calls()
        self.engine_pass()
        self.assertFalse(self.calls("GET", state["centrapay_id"]))
        # Past its expiry, it is read all the same: the POS's timeout and the
        # patron's screen wait on that read.
        request.sudo().write(
            dict(due, expires_at=fields.Datetime.now() - timedelta(seconds=1))
        )
        time.sleep(0.6)  # the feed is due too
        self.engine_pass()
        self.assertEqual(len(self.calls("GET", state["centrapay_id"])), 1)
        # The feed stopped short: the slots left are for the reads it points at.
        self.assertEqual(self.calls("GET", "/api/payment-activities"), [])

    def test_a_request_is_read_at_its_expiry_whatever_the_pace(self):
        state = self.create_request()
        request = self.record(state).sudo()
        engine = self.env["centrapay.engine"].sudo()
        engine._centrapay_process(request, interval=3600)
        self.assertLessEqual(request.next_poll_at, request.expires_at)
        self.assertGreater(
            request.next_poll_at, request.expires_at - timedelta(seconds=1)
        )
        # After its expiry, at the POS's timeout (when the engine voids it).
        request.expires_at = fields.Datetime.now() - timedelta(seconds=1)
        engine._centrapay_process(request, interval=3600)
        self.assertLessEqual(
            request.next_poll_at,
            fields.Datetime.now() + timedelta(seconds=POS_TIMEOUT_GRACE_SECONDS),
        )

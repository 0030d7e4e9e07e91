import threading
import time
from decimal import Decimal
from unittest.mock import patch

import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from .. import const
from .common import CentrapayCommon, CommittedRequestMixin


@tagged("post_install", "-at_install")
class TestCentrapayEngineConcurrency(CommittedRequestMixin, CentrapayCommon):
    """Two status engines at once, each in its own committed transactions."""

    centrapay_test_mode = False

    def _not_read_directly(self, *request_ids):
        """Only the feed can make these requests due in the next hour."""
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE centrapay_payment_request "
                "SET next_poll_at = now() at time zone 'UTC' + interval '1 hour' "
                "WHERE id IN %s",
                [request_ids],
            )

    def _status(self, request_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            request = env["centrapay.payment.request"].browse(request_id)
            return request.status, request.error_count, request.next_poll_at

    def _engine(self):
        return api.Environment(self.env.cr, SUPERUSER_ID, {})["centrapay.engine"]

    def test_the_cron_keeps_its_pace_while_requests_wait(self):
        created, ids = self._committed_request("pace-1", merchant_id=False)
        passes = []
        engine = type(self.env["centrapay.engine"])
        real_pass = engine._centrapay_pass

        def timed_pass(self_, *args, **kwargs):
            passes.append(time.monotonic())
            return real_pass(self_, *args, **kwargs)

        with patch.object(engine, "_centrapay_pass", timed_pass):
            started = time.monotonic()
            self._engine()._centrapay_cron()
            took = time.monotonic() - started
        gaps = [b - a for a, b in zip(passes, passes[1:], strict=False)]
        # One call makes passes for its whole window, about one a second.
        self.assertGreaterEqual(took, 7.5)
        self.assertGreaterEqual(len(passes), 7)
        self.assertLess(max(gaps), 1.5)
        # The engine learns the merchant from the request's first read: the
        # feed is then read about every half second, and the request itself
        # every couple of seconds beside it (DIRECT_READS_PER_MINUTE).
        self.assertGreaterEqual(len(self.calls("GET", "/api/payment-activities")), 10)
        self.assertGreaterEqual(len(self.calls("GET", created["id"])), 3)
        self.assertEqual(self._status(ids[2])[0], "new")

    def test_the_feed_catches_a_payment_never_read_directly(self):
        created, ids = self._committed_request("feed-1")
        self._not_read_directly(ids[2])
        self.control.pay(created["id"])
        self.control.clear_calls()
        self._engine()._centrapay_pass()
        # The feed saw its payment and made it due; the same pass read it.
        self.assertEqual(self._status(ids[2])[0], "paid")
        paths = [c["path"] for c in self.control.calls()]
        self.assertTrue(any("/api/payment-activities" in p for p in paths), paths)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            types = (
                env["centrapay.payment.activity"]
                .search([("centrapay_request_id", "=", created["id"])])
                .mapped("activity_type")
            )
        self.assertIn("payment", types)

    def test_the_feed_speeds_up_as_soon_as_a_request_waits(self):
        created, ids = self._committed_request("feed-idle")
        self._not_read_directly(ids[2])
        self._engine()._centrapay_pass()
        with self.registry.cursor() as cr:
            # As the engine leaves it when nothing waited: next read in 30 s.
            cr.execute(
                "UPDATE centrapay_account "
                "SET feed_read_at = now() at time zone 'UTC' - interval '2 seconds', "
                "    feed_next_at = now() at time zone 'UTC' + interval '28 seconds'"
            )
        self.control.pay(created["id"])
        self.control.clear_calls()
        self._engine()._centrapay_pass()
        self.assertEqual(self._status(ids[2])[0], "paid")

    def test_a_server_killed_mid_create_leaves_a_draft_the_engine_voids(self):
        class ServerDied(BaseException):
            """The Odoo process dies once Centrapay has created the request."""

        _created, (_journal_id, method_id, _request_id) = self._committed_request(
            "kill-fixture"
        )
        self.addCleanup(self._remove_committed_request, "kill-1")
        # The test's transaction is the RPC's: never committed, as when it dies.
        Request = api.Environment(self.env.cr, SUPERUSER_ID, {})[
            "centrapay.payment.request"
        ]
        values = {
            "amount": 6.0,
            "currency_id": self.env.ref("base.NZD").id,
            "external_ref": "kill-1",
            "payment_method_id": method_id,
            "pos_payment_uuid": "line-killed",
            "terminal_id": "Till 1",
            "operator_id": "cashier",
        }
        died = False
        with patch.object(type(Request), "_centrapay_apply", side_effect=ServerDied):
            try:
                Request._centrapay_create_and_send(values, Decimal("6.00"), None)
            except ServerDied:
                died = True
        self.assertTrue(died, "the server died during the create call")
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            draft = env["centrapay.payment.request"].search(
                [("external_ref", "=", "kill-1")]
            )
            self.assertEqual(draft.status, "draft", "committed before the call")
            self.assertFalse(draft.centrapay_id)
            draft_id = draft.id
            draft.next_poll_at = False  # as when the create call could have ended
        found = self.sandbox_client().list_payment_requests_by_external_ref(
            "kill-1", self.sandbox.merchant_account_id
        )
        self.assertEqual([item["status"] for item in found.items], ["new"])

        # The pass that reads the feed reads only what the feed points at; the
        # next (a quarter second later) reads the rest.
        self._engine()._centrapay_pass()
        self._engine()._centrapay_pass()
        self.assertEqual(self._status(draft_id)[0], "cancelled")
        at_centrapay = self.sandbox_client().get_payment_request(found.items[0]["id"])
        self.assertEqual(at_centrapay["status"], "cancelled")

    def test_a_feed_walk_cut_short_keeps_what_it_found_and_resumes(self):
        requests = {}
        for name in ("a", "b"):
            created, ids = self._committed_request(f"feed-cut-{name}")
            requests[name] = (created["id"], ids[2])
        self._not_read_directly(*(i for _cp, i in requests.values()))
        for _catch_up in range(10):
            self._engine()._centrapay_pass()
            with self.registry.cursor() as cr:
                cr.execute(
                    "SELECT bool_or(feed_resume_key IS NOT NULL) FROM centrapay_account"
                )
                if not cr.fetchone()[0]:
                    break
        # Newest first: b's payment and 24 other activities fill the first page
        # (25 items), a's payment is on the second.
        self.control.pay(requests["a"][0])
        client = self.sandbox_client()
        for n in range(30):
            client.create_payment_request(
                config_id=self.sandbox.merchant_config_id,
                amount=Decimal("1.00"),
                currency="NZD",
                external_ref=f"feed-cut-other-{n}",
            )
        self.control.pay(requests["b"][0])
        with self.registry.cursor() as cr:
            # One feed call left in the feed's share: the second page is refused.
            cr.execute(
                "UPDATE centrapay_rate_limit SET calls = array_fill("
                "extract(epoch from now())::float8, ARRAY[%s])",
                [const.RATE_FEED_LIMIT_PER_MINUTE - 1],
            )
            cr.execute("UPDATE centrapay_account SET feed_next_at = NULL")
        self._engine()._centrapay_pass()
        # What the first page found was read in the same pass, from the share
        # the feed leaves to the reads it points at.
        self.assertEqual(self._status(requests["b"][1])[0], "paid")
        self.assertEqual(self._status(requests["a"][1])[0], "new")
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT feed_resume_key FROM centrapay_account "
                "WHERE merchant_id IS NOT NULL"
            )
            self.assertTrue(cr.fetchone()[0], "the walk resumes at the failed page")
            # A minute later: the budget is free, and the walk finds a's payment.
            cr.execute("UPDATE centrapay_rate_limit SET calls = '{}'")
            cr.execute("UPDATE centrapay_account SET feed_next_at = NULL")
        self._engine()._centrapay_pass()
        for name, (_cp, request_id) in requests.items():
            self.assertEqual(self._status(request_id)[0], "paid", name)

    def test_two_engines_never_process_one_request_twice(self):
        created, ids = self._committed_request("concurrency-1", merchant_id=False)
        # The first engine holds the row while Centrapay answers slowly.
        self.control.add_fault(
            method="GET",
            path=f"/api/payment-requests/{created['id']}",
            kind="latency",
            seconds=1.0,
            times=1,
        )
        results, errors = {}, []

        def engine(name):
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    results[name] = env["centrapay.engine"]._centrapay_process_one(
                        ids[2], 60
                    )
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                errors.append(exc)

        first = threading.Thread(target=engine, args=["first"])
        second = threading.Thread(target=engine, args=["second"])
        first.start()
        time.sleep(0.3)
        second.start()
        first.join(10)
        second.join(10)
        self.assertEqual(errors, [])
        self.assertEqual(results, {"first": "done", "second": "skipped"})
        self.assertEqual(len(self.calls("GET", created["id"])), 1)
        # And once the first is done, the request is not due: no second read.
        self.assertEqual(self._engine()._centrapay_process_one(ids[2], 60), "skipped")
        self.assertEqual(len(self.calls("GET", created["id"])), 1)

    def test_a_serialization_failure_costs_no_backoff(self):
        created, ids = self._committed_request("serial-1", merchant_id=False)
        Request = type(self.env["centrapay.payment.request"])
        real = Request._centrapay_refresh

        def conflicting(self_, interactive=False):
            real(self_, interactive)
            raise psycopg2.errors.SerializationFailure("concurrent update")

        with patch.object(Request, "_centrapay_refresh", conflicting):
            outcome = self._engine()._centrapay_process_one(ids[2], 1)
        self.assertEqual(outcome, "skipped")
        status, error_count, next_poll_at = self._status(ids[2])
        self.assertEqual(error_count, 0)
        self.assertFalse(next_poll_at, "still due: read again at the next pass")

    def test_a_failure_in_the_engine_is_kept_with_a_backoff(self):
        created, ids = self._committed_request("failing-1", merchant_id=False)
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE pos_payment_method SET use_payment_terminal = NULL "
                "WHERE id = %s",
                [ids[1]],
            )
        with self.assertLogs("odoo.addons.pos_centrapay", "ERROR"):
            outcome = self._engine()._centrapay_process_one(ids[2], 1)
        self.assertEqual(outcome, "failed")
        status, error_count, next_poll_at = self._status(ids[2])
        self.assertEqual(error_count, 1)
        self.assertTrue(next_poll_at, "the failure reached the database")

    def _remove_committed_request(self, external_ref):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            request = env["centrapay.payment.request"].search(
                [("external_ref", "=", external_ref)]
            )
            request.activity_ids.unlink()
            request.unlink()

import logging
from datetime import timedelta

import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import SQL

from .common import CentrapayCommon, centrapay_method_vals


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
        closed = self.control.add_account("Closed store")
        journal = self.env["account.journal"].create(
            {"name": "Centrapay Closed", "code": "CPC", "type": "bank"}
        )
        self.env["pos.payment.method"].create(
            centrapay_method_vals(
                self.sandbox,
                journal,
                name="Centrapay closed store",
                centrapay_api_key=closed["api_key"],
                centrapay_merchant_config_id=closed["merchant_config_id"],
                centrapay_merchant_id=closed["merchant_id"],
                centrapay_merchant_account_id=closed["merchant_account_id"],
            )
        )
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

import logging

import psycopg2.errors

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import SQL

from .common import CentrapayCommon


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

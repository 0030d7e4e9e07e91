import threading
import time
from decimal import Decimal

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from .common import CentrapayCommon, centrapay_method_vals


@tagged("post_install", "-at_install")
class TestCentrapayStatusJobLocking(CentrapayCommon):
    """Two status jobs at once, each in its own committed transaction."""

    def _committed_request(self, external_ref):
        """A Centrapay request and its Odoo record, committed (removed after)."""
        created = self.sandbox_client().create_payment_request(
            config_id=self.sandbox.merchant_config_id,
            amount=Decimal("3.50"),
            currency="NZD",
            external_ref=external_ref,
        )
        # The test's own transaction is invisible to other workers: commit the
        # fixture in one of its own, and remove it afterwards.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            journal = env["account.journal"].create(
                {"name": f"Centrapay {external_ref}", "type": "bank"}
            )
            method = env["pos.payment.method"].create(
                centrapay_method_vals(self.sandbox, journal)
            )
            request = env["centrapay.payment.request"].create(
                {
                    "centrapay_id": created["id"],
                    "status": "new",
                    "amount": 3.5,
                    "currency_id": env.ref("base.NZD").id,
                    "external_ref": external_ref,
                    "payment_method_id": method.id,
                }
            )
            ids = (journal.id, method.id, request.id)
        self.addCleanup(self._remove_committed, *ids)
        return created, ids

    def test_the_cron_polls_requests_in_transactions_of_their_own(self):
        created, ids = self._committed_request("cron-1")
        self.control.pay(created["id"])
        # As the cron runs it: as a user that every transaction can see.
        self.env(user=SUPERUSER_ID)["centrapay.payment.request"]._centrapay_cron()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertEqual(
                env["centrapay.payment.request"].browse(ids[2]).status, "paid"
            )

    def test_two_status_jobs_never_process_one_request_twice(self):
        created, ids = self._committed_request("concurrency-1")
        # The first job holds the row while Centrapay answers slowly.
        self.control.add_fault(
            method="GET",
            path=f"/api/payment-requests/{created['id']}",
            kind="latency",
            seconds=1.0,
            times=1,
        )

        taken, errors, took = {}, [], {}

        def status_job(name):
            started = time.monotonic()
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    taken[name] = env["centrapay.payment.request"]._centrapay_poll_due()
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                errors.append(exc)
            took[name] = time.monotonic() - started

        first = threading.Thread(target=status_job, args=["first"])
        second = threading.Thread(target=status_job, args=["second"])
        first.start()
        time.sleep(0.3)
        second.start()
        first.join(10)
        second.join(10)
        self.assertFalse(first.is_alive() or second.is_alive())
        self.assertEqual(errors, [])
        self.assertEqual(taken, {"first": [ids[2]], "second": []})
        # The second job skipped the locked row instead of waiting for it.
        self.assertLess(took["second"], 0.5)
        self.assertEqual(len(self.calls("GET", created["id"])), 1)

    def _remove_committed(self, journal_id, method_id, request_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["centrapay.payment.request"].browse(request_id).unlink()
            env["pos.payment.method"].browse(method_id).unlink()
            env["account.journal"].browse(journal_id).unlink()

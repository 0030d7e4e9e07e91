from odoo.exceptions import ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay.errors import CentrapayBudgetExhausted
from .common import CentrapayCommon, centrapay_method_vals


@tagged("post_install", "-at_install")
class TestCentrapayConfiguration(CentrapayCommon):
    def test_missing_credentials_are_refused(self):
        for field, message in (
            ("centrapay_api_key", "API key"),
            ("centrapay_merchant_config_id", "merchant config id"),
        ):
            with self.subTest(field), self.assertRaisesRegex(ValidationError, message):
                self.env["pos.payment.method"].create(
                    centrapay_method_vals(self.sandbox, self.journal, **{field: False})
                )

    def test_unsupported_currency_is_refused(self):
        jpy = self.env.ref("base.JPY")
        jpy.active = True
        journal = self.env["account.journal"].create(
            {"name": "Yen", "code": "JPYB", "type": "bank", "currency_id": jpy.id}
        )
        with self.assertRaisesRegex(ValidationError, "JPY"):
            self.env["pos.payment.method"].create(
                centrapay_method_vals(self.sandbox, journal)
            )

    def test_expiry_bounds(self):
        # A method outside any open POS session, which may be edited.
        method = self.env["pos.payment.method"].create(
            centrapay_method_vals(self.sandbox, self.journal)
        )
        with self.assertRaisesRegex(ValidationError, "between 30 and 900"):
            method.centrapay_expiry_seconds = 5
            method.flush_recordset()

    def test_api_key_is_for_pos_managers_only(self):
        field = self.env["pos.payment.method"]._fields["centrapay_api_key"]
        self.assertEqual(field.groups, "point_of_sale.group_pos_manager")
        self.assertFalse(field.copy)
        self.assertNotIn(
            "centrapay_api_key",
            self.env["pos.payment.method"]._load_pos_data_fields(self.pos_config.id),
        )

    def test_neutralize_blanks_the_credentials(self):
        queries = list(get_neutralization_queries(["pos_centrapay"]))
        self.assertTrue(queries)
        for query in queries:
            self.env.cr.execute(query)
        self.method.invalidate_recordset()
        self.assertFalse(self.method.sudo().centrapay_api_key)
        self.assertFalse(self.method.centrapay_webhook_enabled)
        self.assertEqual(self.method.centrapay_base_url, "http://127.0.0.1:8900")

    def test_test_connection(self):
        action = self.method.action_centrapay_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.method.centrapay_api_key = "not-the-key"
        with self.assertRaisesRegex(Exception, "refused the API key"):
            self.method.action_centrapay_test_connection()


@tagged("post_install", "-at_install")
class TestCentrapayRateBudget(CentrapayCommon):
    def test_polls_yield_to_the_cashier_within_the_window(self):
        RateLimit = self.env["centrapay.rate.limit"]
        key = self.method._centrapay_rate_key()

        def fill(**kind):
            # No assertRaises: it would roll the budget's own transactions back.
            taken = 0
            try:
                while taken < 1000:
                    RateLimit._take(key, **kind)
                    taken += 1
            except CentrapayBudgetExhausted:
                return taken
            return taken

        self.assertEqual(fill(interactive=False), const.RATE_READ_LIMIT_PER_MINUTE)
        # The feed, which finds every payment with one call, has more room.
        self.assertEqual(
            fill(interactive=False, feed=True),
            const.RATE_POLL_LIMIT_PER_MINUTE - const.RATE_READ_LIMIT_PER_MINUTE,
        )
        # The cashier still has the rest of the window, and no more.
        for _cashier in range(
            const.RATE_LIMIT_PER_MINUTE - const.RATE_POLL_LIMIT_PER_MINUTE
        ):
            RateLimit._take(key, interactive=True)
        self.assertEqual(RateLimit._calls_in_window(key), const.RATE_LIMIT_PER_MINUTE)
        self.assertFalse(RateLimit._try_take(key, const.RATE_LIMIT_PER_MINUTE)[0])

    def test_every_http_attempt_spends_the_budget(self):
        """Retries count: the budget holds at the HTTP level."""
        key = self.method._centrapay_rate_key()
        self.control.add_fault(
            method="GET", path="/api/payment-requests/", kind="status", status=503,
            times=3,
        )  # fmt: skip
        client = self.method._centrapay_client(interactive=True)
        with self.assertLogs("odoo.addons.pos_centrapay", "WARNING"):
            failed = None
            try:
                client.get_payment_request("some-id")
            except cp_errors.CentrapayUnknownOutcome as exc:
                failed = exc
            self.assertTrue(failed)
        http_calls = len(self.calls("GET", "/api/payment-requests/some-id"))
        self.assertEqual(http_calls, 3)
        self.assertEqual(
            self.env["centrapay.rate.limit"]._calls_in_window(key), http_calls
        )

    def test_a_429_pauses_the_account_for_its_retry_after(self):
        key = self.method._centrapay_rate_key()
        self.control.add_fault(
            method="GET", path="/api/payment-requests/", kind="rate_limit",
            retryAfter=20, times=1,
        )  # fmt: skip
        client = self.method._centrapay_client(interactive=False)
        limited = None
        try:
            client.get_payment_request("some-id")
        except cp_errors.CentrapayRateLimited as exc:
            limited = exc
        self.assertEqual(limited.retry_after, 20)
        taken, retry_in = self.env["centrapay.rate.limit"]._try_take(key, 100)
        self.assertFalse(taken)
        self.assertGreater(retry_in, 15)

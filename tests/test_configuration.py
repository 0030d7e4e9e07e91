import socket

from odoo.exceptions import UserError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay import retry
from ..centrapay.errors import CentrapayBudgetExhausted
from .common import MANAGER, CentrapayCommon, centrapay_method_vals


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

    def test_a_method_takes_its_journals_currency_else_its_companys(self):
        self.assertFalse(self.journal.currency_id)
        self.assertEqual(
            self.method._centrapay_currency(), self.method.company_id.currency_id
        )
        aud = self.env.ref("base.AUD")
        aud.active = True
        self.journal.currency_id = aud
        self.assertEqual(self.method._centrapay_currency(), aud)
        self.journal.currency_id = False
        self.assertEqual(
            self.method._centrapay_currency(), self.method.company_id.currency_id
        )

    def test_what_the_server_decides_may_change_while_a_till_is_open(self):
        manager = self._user("cp_open_manager", MANAGER)
        method = self.method.with_user(manager)
        self.assertEqual(self.session.state, "opened")
        method.write(
            {
                "centrapay_api_key": "rotated-key",
                "centrapay_partial_allowed": True,
                "centrapay_conditions_enabled": True,
                "centrapay_farmlands_discount": 5.0,
            }
        )
        self.assertEqual(self.method.centrapay_farmlands_discount, 5.0)
        # What a till loaded and acts on stays as it opened.
        with self.assertRaisesRegex(UserError, "open PoS Sessions"):
            method.write({"centrapay_expiry_seconds": 60})

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
        action = self.method.action_centrapay_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("refused the API key", action["params"]["message"])


@tagged("post_install", "-at_install")
class TestCentrapayIntegratorForm(CentrapayCommon):
    """What the integrator sees on a payment method's form (issue 21)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = cls._user("cp_integrator", MANAGER)

    def _method(self, **overrides):
        """A method outside any session, seen by a real POS manager."""
        method = self.env["pos.payment.method"].create(
            centrapay_method_vals(self.sandbox, self.journal, **overrides)
        )
        return method.with_user(self.manager)

    def _test(self, method):
        params = method.action_centrapay_test_connection()["params"]
        return params["type"], params.get("title"), params["message"]

    def test_a_new_method_shows_no_recordset_for_its_last_request(self):
        method = self._method()
        self.assertIs(method.centrapay_last_device_id, False)
        self.assertIs(method.centrapay_last_terminal_id, False)
        form = Form(self.env["pos.payment.method"].with_user(self.manager))
        self.assertFalse(form.centrapay_last_device_id)
        self.assertFalse(form.centrapay_last_terminal_id)

    def test_a_new_method_starts_on_production(self):
        form = Form(self.env["pos.payment.method"].with_user(self.manager))
        form.journal_id = self.journal
        form.payment_method_type = "terminal"
        form.use_payment_terminal = "centrapay"
        self.assertEqual(form.centrapay_environment, "production")
        self.assertFalse(form.centrapay_base_url)
        self.assertEqual(form.centrapay_jwks_default_url, const.PRODUCTION_JWKS_URL)
        form.centrapay_environment = "sandbox"
        self.assertEqual(form.centrapay_base_url, const.DEFAULT_SANDBOX_URL)

    def test_webhook_keys_url_shows_its_default(self):
        method = self._method()
        self.assertFalse(method.centrapay_jwks_url)
        self.assertEqual(method.centrapay_jwks_default_url, self.sandbox.jwks_url)
        self.assertEqual(method._centrapay_verifier().jwks_url, self.sandbox.jwks_url)
        arch = self.env["pos.payment.method"].get_view(view_type="form")["arch"]
        self.assertIn("centrapay_jwks_default_url", arch)

    def test_connection_success_says_what_was_checked(self):
        kind, _title, message = self._test(self._method())
        self.assertEqual(kind, "success")
        self.assertIn(self.sandbox.base_url, message)
        self.assertIn("API key is accepted", message)
        self.assertIn(self.sandbox.merchant_config_id, message)
        self.assertIn(self.sandbox.merchant_id, message)

    def test_connection_failures_say_what_to_check(self):
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        url = self.sandbox.base_url
        cases = [
            ("bad URL", {"centrapay_base_url": "http://"}, "not a valid address"),
            (
                "URL of something else",
                {"centrapay_base_url": f"{url}/api"},
                "not as the Centrapay API does",
            ),
            (
                "unreachable host",
                {"centrapay_base_url": f"http://127.0.0.1:{closed_port}"},
                "could not reach",
            ),
            ("bad key", {"centrapay_api_key": "not-the-key"}, "refused the API key"),
            (
                "unknown merchant config",
                {"centrapay_merchant_config_id": "mc_unknown"},
                'does not know merchant config "mc_unknown"',
            ),
            (
                "unknown merchant config, no merchant id",
                {
                    "centrapay_merchant_config_id": "mc_unknown",
                    "centrapay_merchant_id": False,
                },
                'does not know merchant config "mc_unknown"',
            ),
            (
                "another merchant's id",
                {"centrapay_merchant_id": "someone-else"},
                "Check the Merchant ID",
            ),
        ]
        for label, overrides, expected in cases:
            with self.subTest(label):
                kind, title, message = self._test(self._method(**overrides))
                self.assertEqual(kind, "danger")
                self.assertEqual(title, "Centrapay connection test failed")
                self.assertIn(expected, message)
                self.assertIn("Check", message)
                self.assertNotIn("Do not take the payment twice", message)
                self.assertNotIn(self.sandbox.api_key, message)


@tagged("post_install", "-at_install")
class TestCentrapayRateBudget(CentrapayCommon):
    def test_polls_yield_to_the_cashier_within_the_window(self):
        RateLimit = self.env["centrapay.rate.limit"]
        key = self.method._centrapay_rate_key()

        def fill(kind):
            # No assertRaises: it would roll the budget's own transactions back.
            taken = 0
            try:
                while taken < 1000:
                    RateLimit._take(key, retry.policy(kind))
                    taken += 1
            except CentrapayBudgetExhausted:
                return taken
            return taken

        self.assertEqual(fill("read"), const.RATE_READ_LIMIT_PER_MINUTE)
        # The feed, which finds every payment with one call, has more room,
        # and the reads it points at more still.
        self.assertEqual(
            fill("feed"),
            const.RATE_FEED_LIMIT_PER_MINUTE - const.RATE_READ_LIMIT_PER_MINUTE,
        )
        self.assertEqual(
            fill("urgent"),
            const.RATE_POLL_LIMIT_PER_MINUTE - const.RATE_FEED_LIMIT_PER_MINUTE,
        )
        # The cashier still has the rest of the window, and no more.
        for _cashier in range(
            const.RATE_LIMIT_PER_MINUTE - const.RATE_POLL_LIMIT_PER_MINUTE
        ):
            RateLimit._take(key, retry.policy("cashier"))
        self.assertEqual(RateLimit._calls_in_window(key), const.RATE_LIMIT_PER_MINUTE)
        self.assertFalse(RateLimit._try_take(key, const.RATE_LIMIT_PER_MINUTE)[0])

    def test_every_http_attempt_spends_the_budget(self):
        """Retries count: the budget holds at the HTTP level."""
        key = self.method._centrapay_rate_key()
        self.control.add_fault(
            method="GET", path="/api/payment-requests/", kind="status", status=503,
            times=3,
        )  # fmt: skip
        client = self.method._centrapay_client("cashier")
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

    def test_each_kind_of_call_follows_the_one_retry_policy(self):
        """centrapay/retry.py says, per kind of call, how often it is tried,
        how long it waits and whose share of the budget it spends; the client
        of each kind does exactly that (a read that keeps failing, here)."""
        for kind, rules in retry.POLICIES.items():
            with self.subTest(kind=kind):
                client = self.method._centrapay_client(kind)
                self.assertEqual(client.max_retries, rules.attempts - 1)
                self.assertEqual(client.backoff, rules.backoff)
                self.assertEqual(client.max_retry_after, rules.wait)
                self.control.clear_calls()
                self.control.add_fault(
                    method="GET", path="/api/payment-requests/", kind="status",
                    status=503, times=rules.attempts + 1,
                )  # fmt: skip
                client._sleep = lambda seconds: None
                with (
                    mute_logger("odoo.addons.pos_centrapay.models.pos_payment_method"),
                    self.assertRaises(cp_errors.CentrapayUnknownOutcome),
                ):
                    client.get_payment_request(f"retry-{kind}")
                self.assertEqual(
                    len(self.calls("GET", f"/api/payment-requests/retry-{kind}")),
                    rules.attempts,
                )
                self.control.clear_faults()

    def test_a_429_pauses_the_account_for_its_retry_after(self):
        key = self.method._centrapay_rate_key()
        self.control.add_fault(
            method="GET", path="/api/payment-requests/", kind="rate_limit",
            retryAfter=20, times=1,
        )  # fmt: skip
        client = self.method._centrapay_client("read")
        limited = None
        try:
            client.get_payment_request("some-id")
        except cp_errors.CentrapayRateLimited as exc:
            limited = exc
        self.assertEqual(limited.retry_after, 20)
        taken, retry_in = self.env["centrapay.rate.limit"]._try_take(key, 100)
        self.assertFalse(taken)
        self.assertGreater(retry_in, 15)

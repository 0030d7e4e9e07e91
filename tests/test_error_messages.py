import re
from pathlib import Path
from types import SimpleNamespace

from babel.messages import extract

from odoo.tests import TransactionCase, tagged

from ..centrapay import errors as cp_errors
from ..centrapay.client import CentrapayClient
from ..error_messages import (
    ERROR_MESSAGES,
    centrapay_code_message,
    centrapay_error_message,
)
from .common import TupleTimeoutMixin, centrapay_method_vals

# Every error code Centrapay documents (doc §3.4, §6, §9), kept
# here independently of the table so that dropping one from it fails a test.
DOCUMENTED_CODES = (
    # Create (E1)
    "NO_AVAILABLE_PAYMENT_OPTIONS",
    "LINE_ITEMS_SUM_CHECK_FAILED",
    "CHECKSUM_FAILED",
    "PATRON_CODE_INVALID",
    "REDIRECT_URL_INVALID",
    "TOKEN_COLLECTION_NOT_FOUND",
    "CONNECTION_NOT_FOUND",
    "CONNECTION_MERCHANT_MISMATCH",
    "CONNECTION_CREATED_BY_MISMATCH",
    # Pay (E6)
    "INVALID_ASSET_TYPE",
    "REQUEST_EXPIRED",
    "REQUEST_PAID",
    "REQUEST_CANCELLED",
    "INACTIVE_ASSET",
    "INVALID_MERCHANT_CONFIG",
    "QUOTA_EXCEEDED",
    "INSUFFICIENT_ASSET_VALUE",
    "ASSET_REDEMPTION_DENIED",
    "PAYMENT_DECLINED",
    "PAYMENT_UNCONFIRMED",
    # Refund (E8) and void (E7)
    "NOT_PAID",
    "ALREADY_REFUNDED",
    "INVALID_AMOUNT",
    "REPEAT_REFERENCE",
    "PARTIAL_REFUNDS_NOT_ALLOWED",
    "REFUND_NOT_SUPPORTED",
    "REFUND_WINDOW_EXCEEDED",
    "PRE_AUTH_PENDING",
    "CONFIRMATION_NOT_FOUND",
    "REFUND_DECLINED",
    "VOID_WINDOW_EXCEEDED",
    "PRE_AUTH_ALREADY_CONFIRMED",
    # Confirm and release (E13, E14)
    "INVALID_PAYMENT_REQUEST_TYPE",
    "PRE_AUTH_RELEASED",
    "IDEMPOTENT_OPERATION_FAILED",
    # Conditions (E11, E12)
    "PATRON_NOT_AUTHORIZED",
    "MERCHANT_NOT_AUTHORIZED",
    "CONDITION_ALREADY_SET",
    # Decode (E17), merchant configs (E18), merchants
    "UNKNOWN_CODE",
    "MERCHANT_CONFIG_NOT_FOUND",
    "INVALID_WALLET_TYPE",
    "LIVENESS_MISMATCH",
    "COLLECTIONS_INVALID",
    "BANK_ACCOUNT_MISMATCH",
    "ACCOUNT_REGION_MISMATCH",
    # Legacy API
    "MERCHANT_CONFIGURATION_NOT_FOUND",
    "REQUEST_NOT_FOUND",
    # HTTP status pages and generic texts
    "INSUFFICIENT_BALANCE",
    "RATE_LIMIT_EXCEEDED",
    "RATE LIMIT EXCEEDED",
    "Forbidden",
    "FORBIDDEN",
    "Not Found",
    "NOT FOUND",
    "Missing authentication",
    "Unauthorized",
    "BAD REQUEST",
    "SERVER ERROR",
)
CANCELLATION_REASONS = (
    "CANCELLED_BY_MERCHANT",
    "CANCELLED_BY_PATRON",
    "PATRON_CODE_INVALID",
    "PATRON_CODE_EXPIRED",
    "PAYMENT_FAILED",
    "DECLINED_BY_PATRON",
    "DECLINED_BY_MERCHANT",
    "PAYMENT_DECLINED",
    "PAYMENT_REQUEST_EXPIRED",
    "NO_AVAILABLE_PAYMENT_OPTIONS",
    "INACTIVE_ASSET",
    "REFUNDED_BY_VOID",  # ours
)
STATUS_OF = {"RATE_LIMIT_EXCEEDED": 429, "RATE LIMIT EXCEEDED": 429}
API_KEY = "cp-test-Secret-Key-0123456789abcdef"


def _shows_raw(code, message):
    """Whether ``message`` shows ``code`` as a code (not as plain words)."""
    if code in message:
        return True
    return "_" in code and code.lower() in message.lower()


@tagged("post_install", "-at_install")
class TestCentrapayErrorMessages(TupleTimeoutMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        nzd = cls.env.ref("base.NZD")
        nzd.active = True
        journal = cls.env["account.journal"].create(
            {
                "name": "Centrapay Msg",
                "code": "CPM",
                "type": "bank",
                "currency_id": nzd.id,
            }
        )
        fake_sandbox = SimpleNamespace(
            base_url="http://127.0.0.1:9",
            api_key=API_KEY,
            merchant_config_id="mc_test",
            merchant_id="merchant-test",
            merchant_account_id="account-test",
        )
        cls.method = cls.env["pos.payment.method"].create(
            centrapay_method_vals(fake_sandbox, journal)
        )

    def assertClean(self, message, code=None):
        self.assertIsInstance(message, str)
        self.assertTrue(message.strip())
        self.assertNotIn(API_KEY, message)
        if code:
            self.assertFalse(_shows_raw(code, message), message)

    def test_every_python_file_gives_its_terms(self):
        """Odoo's term export reads each file as below; a file it cannot read
        only logs an error, and its terms are missing from the .pot."""
        module = Path(__file__).resolve().parent.parent
        for path in sorted(module.rglob("*.py")):
            with self.subTest(path=str(path.relative_to(module))), path.open("rb") as f:
                list(
                    extract.extract(
                        "python",
                        f,
                        keywords={"_": None, "_lt": None},
                        options={"encoding": "UTF-8"},
                    )
                )

    def test_every_documented_code_has_its_own_message(self):
        for code in DOCUMENTED_CODES:
            with self.subTest(code=code):
                self.assertIn(code, ERROR_MESSAGES)
                message = centrapay_code_message(self.env, code)
                self.assertClean(message, code)
                status = STATUS_OF.get(code, 403)
                exc = cp_errors.CentrapayForbidden(status, code)
                error = centrapay_error_message(self.env, exc)
                self.assertEqual(error, message)

    def test_every_cancellation_reason_has_its_own_message(self):
        for reason in CANCELLATION_REASONS:
            with self.subTest(reason=reason):
                self.assertIn(reason, ERROR_MESSAGES)
                self.assertClean(centrapay_code_message(self.env, reason), reason)

    def test_every_message_says_what_to_do_next(self):
        """Not only what happened: what the cashier or manager does next."""
        next_step = re.compile(
            r"\b(ask|take|try|start|check|wait|refund|contact|press|report|do not|"
            r"answer|split|void|test|scan|type)\b",
            re.IGNORECASE,
        )
        # Titles, and the details that are always followed by unknown_outcome.
        skip = ("connection_test.title", "connection_test.success", "unknown_outcome.")
        for key, entry in ERROR_MESSAGES.items():
            if key.startswith(skip):
                continue
            with self.subTest(key=key):
                self.assertRegex(self.env._(entry), next_step)

    def test_no_table_entry_shows_a_documented_code(self):
        codes = set(DOCUMENTED_CODES) | set(CANCELLATION_REASONS)
        for key, lazy in ERROR_MESSAGES.items():
            text = self.env._(lazy)
            with self.subTest(key=key):
                self.assertClean(text)
                for code in codes:
                    if "_" in code:
                        self.assertNotIn(code, text)

    def test_spelling_variants_find_the_same_message(self):
        self.assertEqual(
            centrapay_code_message(self.env, " forbidden "),
            centrapay_code_message(self.env, "Forbidden"),
        )
        self.assertEqual(
            centrapay_code_message(self.env, "rate limit exceeded"),
            centrapay_code_message(self.env, "RATE_LIMIT_EXCEEDED"),
        )

    def test_unknown_codes_are_shown_inside_a_generic_message(self):
        for status in (400, 401, 403, 404, 409):
            with self.subTest(status=status):
                exc = cp_errors.CentrapayAPIError(status, "SOMETHING_NEW")
                message = centrapay_error_message(self.env, exc)
                self.assertIn("SOMETHING_NEW", message)
                self.assertClean(message)
        # Centrapay's free-text 400 messages are not codes either.
        exc = cp_errors.CentrapayBadRequest(400, "amount is required")
        self.assertIn("amount is required", centrapay_error_message(self.env, exc))
        self.assertIn("NEW_REASON", centrapay_code_message(self.env, "NEW_REASON"))

    def test_reason_is_appended_and_never_changes_the_message(self):
        plain = centrapay_error_message(
            self.env, cp_errors.CentrapayForbidden(403, "REFUND_WINDOW_EXCEEDED")
        )
        for reason in ("Refund window is 30 days", "REQUEST_PAID", "x" * 500):
            with self.subTest(reason=reason[:20]):
                exc = cp_errors.CentrapayForbidden(
                    403, "REFUND_WINDOW_EXCEEDED", reason=reason
                )
                message = centrapay_error_message(self.env, exc)
                self.assertTrue(message.startswith(plain))
                self.assertIn(reason[:50], message)
                self.assertLess(len(message), len(plain) + 250)
        exc = cp_errors.CentrapayForbidden(403, "Forbidden", reason="line\n\tbreaks")
        self.assertIn("line breaks", centrapay_error_message(self.env, exc))

    def test_error_classes(self):
        busy = centrapay_code_message(self.env, "RATE_LIMIT_EXCEEDED")
        self.assertEqual(
            centrapay_error_message(self.env, cp_errors.CentrapayRateLimited(3.0)),
            busy,
        )
        auth = cp_errors.CentrapayAuthError(401, "Missing authentication")
        self.assertIn("API key", centrapay_error_message(self.env, auth))
        for kind in cp_errors.CentrapayUnknownOutcome.KINDS:
            with self.subTest(kind=kind):
                # Not an f-string inside _(): Odoo's term extractor (Babel)
                # evaluates each string literal of a _() call on its own.
                key = f"unknown_outcome.{kind}"
                self.assertIn(key, ERROR_MESSAGES)
                exc = cp_errors.CentrapayUnknownOutcome(kind, "detail")
                message = centrapay_error_message(self.env, exc)
                self.assertClean(message)
                detail = self.env._(ERROR_MESSAGES[key])
                self.assertTrue(message.startswith(detail), message)
                self.assertNotIn(f"({kind})", message)
                self.assertIn("voids it", message)
        too_large = cp_errors.CentrapayValidationError(
            "amount", "amount_too_large", "amount exceeds 99999999 minor units"
        )
        self.assertIn("too large", centrapay_error_message(self.env, too_large))
        odd = cp_errors.CentrapayValidationError("line_items[0].qty", "invalid", "x")
        self.assertIn("line_items[0].qty", centrapay_error_message(self.env, odd))
        other = cp_errors.WebhookVerificationError("bad_signature")
        self.assertClean(centrapay_error_message(self.env, other))

    def test_no_message_contains_an_api_key(self):
        leaky = (
            cp_errors.CentrapayForbidden(403, "Forbidden", reason=f"key {API_KEY}"),
            cp_errors.CentrapayAPIError(400, f"bad key {API_KEY}"),
            cp_errors.CentrapayAuthError(401, "Unauthorized", reason=API_KEY),
            cp_errors.CentrapayUnknownOutcome("connection", f"X-Api-Key: {API_KEY}"),
            cp_errors.CentrapayValidationError("api_key", "invalid", API_KEY),
            cp_errors.CentrapayValidationError(API_KEY, "invalid", API_KEY),
        )
        for exc in leaky:
            with self.subTest(exc=type(exc).__name__):
                self.assertClean(centrapay_error_message(self.env, exc))
        self.assertClean(centrapay_code_message(self.env, API_KEY, reason=API_KEY))

    def test_real_client_errors_are_worded_without_the_key(self):
        # Nothing listens on port 9: a real connection failure (not retried, so
        # that the client logs no retry warning).
        client = CentrapayClient("http://127.0.0.1:9", API_KEY, max_retries=0)
        with self.assertRaises(cp_errors.CentrapayUnknownOutcome) as caught:
            client.get_payment_request("some-id")
        message = centrapay_error_message(self.env, caught.exception)
        self.assertClean(message)
        self.assertIn("could not reach", message)
        with self.assertRaises(cp_errors.CentrapayValidationError) as caught:
            CentrapayClient("http://127.0.0.1:9", "bad key")
        self.assertIn("API key", centrapay_error_message(self.env, caught.exception))

    def test_messages_follow_the_user_language(self):
        message = centrapay_code_message(self.env, "REQUEST_EXPIRED")
        self.assertEqual(
            centrapay_code_message(
                self.env(context={"lang": "en_US"}), "REQUEST_EXPIRED"
            ),
            message,
        )
        # A language without translations falls back to the English source.
        fr = self.env["res.lang"]._activate_lang("fr_FR")
        self.assertTrue(fr)
        self.assertTrue(
            centrapay_code_message(
                self.env(context={"lang": "fr_FR"}), "REQUEST_EXPIRED"
            )
        )

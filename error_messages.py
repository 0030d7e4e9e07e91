"""What the cashier or the manager reads for each Centrapay error: one table.

Certification item CP-ERR-6: every documented Centrapay error code is shown in
plain language. The code (the error body's ``message``) picks the text; the
``reason`` is free text that may be appended for information and never drives
anything (doc §3.4). Callers keep branching on the exception
classes of ``centrapay/errors.py``; this module only words them.

``ERROR_MESSAGES`` holds, in one place:

* Centrapay's documented error codes (doc §3.4, §6, §9);
* the generic texts Centrapay sends with some HTTP statuses (§3.4);
* cancellation reasons (§4.3) and our own ``REFUNDED_BY_VOID`` (§4.1), so a
  cancelled request can be explained with the same words;
* our client's own cases, under lower-case dotted keys that cannot collide with
  Centrapay's codes: ``unknown_outcome.<kind>`` and ``validation.<code>``.
"""

import re

from odoo.tools import LazyTranslate

from .centrapay import errors as cp_errors

_lt = LazyTranslate(__name__)

# Appended reasons are cut to this length (they are free text from Centrapay).
REASON_MAX_LENGTH = 200

ERROR_MESSAGES = {
    # --- Payment Requests: create (E1) -----------------------------------------
    "NO_AVAILABLE_PAYMENT_OPTIONS": _lt(
        "No Centrapay payment option fits this payment (the merchant config's "
        "payment options, the currency or the amount). Take the payment another "
        "way and ask a manager to check the Centrapay set-up."
    ),
    "LINE_ITEMS_SUM_CHECK_FAILED": _lt(
        "The order lines sent to Centrapay do not add up to the amount. Try again; "
        "if it happens again, report it to your Odoo administrator."
    ),
    "CHECKSUM_FAILED": _lt(
        "This code is not valid: its check character does not match. Check it for "
        "typing mistakes."
    ),
    "PATRON_CODE_INVALID": _lt(
        "The customer's code is not valid or has expired. Ask the customer for a "
        "new code."
    ),
    "REDIRECT_URL_INVALID": _lt(
        "Centrapay refused the return address of this payment request. Take the "
        "payment another way and ask a manager to check the Centrapay set-up."
    ),
    "TOKEN_COLLECTION_NOT_FOUND": _lt(
        "Centrapay does not know the token collection of this payment request. "
        "Take the payment another way and ask a manager to check the Centrapay "
        "set-up."
    ),
    "CONNECTION_NOT_FOUND": _lt(
        "Centrapay does not know the connection of this payment request. Start a "
        "new Centrapay payment, or take the payment another way."
    ),
    "CONNECTION_MERCHANT_MISMATCH": _lt(
        "The connection of this payment request belongs to another merchant. "
        "Start a new Centrapay payment, or take the payment another way."
    ),
    "CONNECTION_CREATED_BY_MISMATCH": _lt(
        "The connection of this payment request was made by someone else. Start a "
        "new Centrapay payment, or take the payment another way."
    ),
    # --- Payment Requests: state -------------------------------------------------
    "REQUEST_EXPIRED": _lt(
        "This payment request has expired. Start a new Centrapay payment."
    ),
    "REQUEST_PAID": _lt(
        "This payment request has already been paid. Do not take the payment "
        "again: wait for the till to show it as paid."
    ),
    "REQUEST_CANCELLED": _lt(
        "This payment request has already been cancelled. Start a new Centrapay "
        "payment if the customer still wants to pay."
    ),
    "REQUEST_NOT_FOUND": _lt(
        "Centrapay does not know this payment request. Start a new Centrapay "
        "payment; if it happens again, ask a manager to check the payment method."
    ),
    # --- Pay (patron side, E6) ---------------------------------------------------
    "INVALID_ASSET_TYPE": _lt(
        "This merchant does not accept the customer's payment method. Ask the "
        "customer to pay another way."
    ),
    "INACTIVE_ASSET": _lt(
        "The customer's payment method is not active (disabled, expired or used "
        "up). Take or give back the money another way."
    ),
    "INVALID_MERCHANT_CONFIG": _lt(
        "The merchant's Centrapay set-up cannot take this payment (incomplete or "
        "blocked). Take the payment another way and ask a manager to contact "
        "Centrapay."
    ),
    "QUOTA_EXCEEDED": _lt(
        "The payment is over the spending limit of the customer's payment method. "
        "Ask the customer to pay another way, or to split the payment."
    ),
    "INSUFFICIENT_ASSET_VALUE": _lt(
        "The customer's payment method does not hold enough money for this "
        "payment. Ask the customer to top it up or to pay another way."
    ),
    "INSUFFICIENT_BALANCE": _lt(
        "There is not enough money for this operation. Take or give back the "
        "money another way."
    ),
    "ASSET_REDEMPTION_DENIED": _lt(
        "The customer's payment method refused the payment. Ask the customer to pay "
        "another way."
    ),
    "PAYMENT_DECLINED": _lt(
        "Centrapay declined the payment (a restriction of the customer's payment "
        "method). Ask the customer to pay another way."
    ),
    "PAYMENT_UNCONFIRMED": _lt(
        "The customer's payment provider did not confirm the payment in time. Wait "
        "for the result on the till before taking the payment again."
    ),
    # --- Refund (E8) and void (E7) -----------------------------------------------
    "NOT_PAID": _lt(
        "This payment request was never paid, so there is nothing to refund "
        "through Centrapay. Refund the customer another way if they paid otherwise."
    ),
    "ALREADY_REFUNDED": _lt(
        "This Centrapay payment has already been fully refunded. If the customer is "
        "still owed money, refund them another way."
    ),
    "INVALID_AMOUNT": _lt(
        "The amount is more than what is left on this Centrapay payment (part of it "
        "was already refunded or confirmed). Check its refunds, then try again "
        "with a smaller amount."
    ),
    "REPEAT_REFERENCE": _lt(
        "A refund with the same reference but another amount was already made on "
        "this payment. Check its refunds before trying again."
    ),
    "PARTIAL_REFUNDS_NOT_ALLOWED": _lt(
        "The customer's payment method can only be refunded in full. Refund the "
        "whole payment, or refund the customer another way."
    ),
    "REFUND_NOT_SUPPORTED": _lt(
        "The customer's payment method cannot be refunded through Centrapay. "
        "Refund the customer another way."
    ),
    "REFUND_WINDOW_EXCEEDED": _lt(
        "It is too late to refund this payment through Centrapay. Refund the "
        "customer another way."
    ),
    "REFUND_DECLINED": _lt(
        "Centrapay declined the refund. Refund the customer another way."
    ),
    "VOID_WINDOW_EXCEEDED": _lt(
        "This payment request is more than 24 hours old and can no longer be "
        "voided; refund it instead."
    ),
    # --- Pre-authorisation (E13, E14) --------------------------------------------
    "PRE_AUTH_ALREADY_CONFIRMED": _lt(
        "Amounts of this pre-authorisation were already confirmed, so it cannot be "
        "voided; refund it instead."
    ),
    "PRE_AUTH_PENDING": _lt(
        "This pre-authorisation is not authorised yet. Wait for the customer to "
        "approve it, then try again."
    ),
    "PRE_AUTH_RELEASED": _lt(
        "This pre-authorisation has been released or has expired. Start a new "
        "Centrapay payment."
    ),
    "INVALID_PAYMENT_REQUEST_TYPE": _lt(
        "This payment request is not a pre-authorisation. Refund it instead if "
        "money must go back."
    ),
    "CONFIRMATION_NOT_FOUND": _lt(
        "Centrapay found no such confirmation on this payment request. Check the "
        "request's activities before trying again."
    ),
    "IDEMPOTENT_OPERATION_FAILED": _lt(
        "The same operation was already sent with other details. Check the payment "
        "request before trying again."
    ),
    # --- Payment conditions (E11, E12) -------------------------------------------
    "PATRON_NOT_AUTHORIZED": _lt(
        "This check must be answered at the till, not by the customer. Answer it "
        "on the till."
    ),
    "MERCHANT_NOT_AUTHORIZED": _lt(
        "This check is waiting for the customer; the till cannot answer it. Wait "
        "for the customer to answer it in their app."
    ),
    "CONDITION_ALREADY_SET": _lt(
        "This check has already been accepted or declined. Wait for the till to "
        "show the result."
    ),
    # --- Scanned codes (E17) and merchant configuration (E18) --------------------
    "UNKNOWN_CODE": _lt(
        "Centrapay does not recognise the scanned code (unknown or no longer "
        "active). Ask the customer for a new code, or to pay another way."
    ),
    "MERCHANT_CONFIG_NOT_FOUND": _lt(
        "Centrapay does not know the merchant config of this payment method. Ask a "
        "manager to check the merchant config id."
    ),
    "MERCHANT_CONFIGURATION_NOT_FOUND": _lt(
        "Centrapay does not know the merchant config of this payment method. Ask a "
        "manager to check the merchant config id."
    ),
    "INVALID_WALLET_TYPE": _lt(
        "The settlement wallet of the merchant config is not valid. Contact Centrapay."
    ),
    "LIVENESS_MISMATCH": _lt(
        "Test and live do not match: test payment options need a test merchant, and "
        "live options a live merchant. Contact Centrapay."
    ),
    "COLLECTIONS_INVALID": _lt(
        "A token collection of the merchant config is not valid. Contact Centrapay."
    ),
    "BANK_ACCOUNT_MISMATCH": _lt(
        "The settlement bank account does not belong to the merchant's Centrapay "
        "account. Contact Centrapay."
    ),
    "ACCOUNT_REGION_MISMATCH": _lt(
        "The merchant's country does not match the region of its Centrapay account. "
        "Contact Centrapay."
    ),
    # --- Rate limit (429) --------------------------------------------------------
    "RATE_LIMIT_EXCEEDED": _lt(
        "Centrapay is busy (too many requests for this account). Try again in a few "
        "seconds."
    ),
    "RATE LIMIT EXCEEDED": _lt(
        "Centrapay is busy (too many requests for this account). Try again in a few "
        "seconds."
    ),
    # --- Generic texts sent with an HTTP status ----------------------------------
    "Forbidden": _lt(
        "Centrapay did not find this payment request or merchant config, or the API "
        "key may not use it. Ask a manager to check the merchant config id and the "
        "API key."
    ),
    "FORBIDDEN": _lt(
        "Centrapay did not find this payment request or merchant config, or the API "
        "key may not use it. Ask a manager to check the merchant config id and the "
        "API key."
    ),
    "Not Found": _lt(
        "Centrapay does not know this address or payment request. Ask a manager to "
        "check the payment method's API URL."
    ),
    "NOT FOUND": _lt(
        "Centrapay does not know this address or payment request. Ask a manager to "
        "check the payment method's API URL."
    ),
    "Missing authentication": _lt(
        "Centrapay refused the API key (missing, wrong, disabled or expired). Ask a "
        "manager to check the payment method's API key."
    ),
    "Unauthorized": _lt(
        "Centrapay refused the API key (missing, wrong, disabled or expired). Ask a "
        "manager to check the payment method's API key."
    ),
    "BAD REQUEST": _lt(
        "Centrapay refused the request as invalid. Ask a manager to check the "
        "payment method."
    ),
    "SERVER ERROR": _lt("Centrapay had an internal error. Try again in a moment."),
    # --- Cancellation reasons (a cancelled request's cancellationReason) ---------
    "CANCELLED_BY_MERCHANT": _lt(
        "The shop cancelled (voided) the payment request. Start a new Centrapay "
        "payment if the customer still wants to pay."
    ),
    "CANCELLED_BY_PATRON": _lt(
        "The customer cancelled the payment in their app. Ask the customer, then "
        "start a new Centrapay payment or take the payment another way."
    ),
    "PATRON_CODE_EXPIRED": _lt(
        "The customer's code has expired. Ask the customer for a new code."
    ),
    "PAYMENT_FAILED": _lt(
        "The payment failed at Centrapay. Ask the customer to try again or to pay "
        "another way."
    ),
    "DECLINED_BY_PATRON": _lt(
        "The customer declined a check this payment needed. Ask the customer to "
        "pay another way."
    ),
    "DECLINED_BY_MERCHANT": _lt(
        "The till declined a check this payment needed. Start a new Centrapay "
        "payment if the check can now be accepted."
    ),
    "PAYMENT_REQUEST_EXPIRED": _lt(
        "The payment request expired before it was paid. Start a new Centrapay payment."
    ),
    # Ours, not Centrapay's: our void refunded a payment made at the last moment.
    "REFUNDED_BY_VOID": _lt(
        "The customer paid just as the payment was cancelled, so Centrapay refunded "
        "it. This sale is not paid: take the payment again."
    ),
    # --- Raised by our client, not sent by Centrapay (centrapay/errors.py) -------
    "unknown_outcome": _lt(
        "Odoo checks the payment request again and voids it if it cannot be "
        "confirmed. Do not take the payment twice: wait for the till to show the "
        "result."
    ),
    "unknown_outcome.timeout": _lt("Centrapay did not answer in time."),
    "unknown_outcome.connection": _lt("Odoo could not reach Centrapay."),
    "unknown_outcome.server_error": _lt("Centrapay had an internal error."),
    "unknown_outcome.unexpected_status": _lt(
        "Centrapay gave an unexpected answer (for example a redirect)."
    ),
    "unknown_outcome.malformed": _lt("Centrapay's answer could not be read."),
    "unknown_outcome.incomplete": _lt("Centrapay's answer was incomplete."),
    "validation.api_key": _lt(
        "The payment method's Centrapay API key is missing or contains invalid "
        "characters. Ask a manager to check it."
    ),
    "validation.base_url": _lt(
        "The payment method's Centrapay API URL is not valid. Ask a manager to "
        "check it."
    ),
    "validation.amount_too_large": _lt(
        "The amount is too large for one Centrapay payment. Split it into "
        "several payments."
    ),
    "validation.amount_precision": _lt(
        "The amount has more decimals than its currency allows. Check the amount "
        "and try again."
    ),
    "validation.amount_not_positive": _lt(
        "Centrapay only takes amounts above zero. Check the amount and try again."
    ),
    "validation.invalid_currency": _lt(
        "Centrapay does not take this currency. Take the payment another way."
    ),
    "validation.line_items_sum": _lt(
        "The order lines do not add up to the amount to pay. Try again; if it "
        "happens again, report it to your Odoo administrator."
    ),
    "validation.barcode_required": _lt("Scan or type the customer's code first."),
    "validation.barcode_format": _lt(
        "This is not a customer's code: a Centrapay or Farmlands code has only "
        "digits, at most 16. Scan it again or type it."
    ),
    "validation.barcode_checksum": _lt(
        "This code is not valid: its check digit does not match. Check it for "
        "typing mistakes, or scan it again."
    ),
    "barcode.unsupported_provider": _lt(
        "This is a %(provider)s code, which this till does not take through "
        "Centrapay. Ask the customer for their Centrapay app code or Farmlands "
        "card, or to pay another way."
    ),
    "farmlands.not_farmlands": _lt(
        "The order lines carry the Farmlands discount (%(rate)s %%), which only a "
        "Farmlands card gets. Remove the discount from the lines, then take the "
        "payment again."
    ),
    "farmlands.whole_order": _lt(
        "The Farmlands discount applies only when the Farmlands card pays the "
        "whole order. Remove the other payments or the discount, then try again."
    ),
    "farmlands.order_refused": _lt(
        "Order %(order)s carries the Farmlands discount (%(rate)s %%), but a "
        "Farmlands card did not pay the whole order. The order was not saved; it "
        "stays on the POS. Remove the discount from its lines and take the payment "
        "again, or pay the whole order with the Farmlands card."
    ),
    "create.busy": _lt(
        "Too many payments are starting on this Odoo server at once. Try again in "
        "a few seconds."
    ),
    "condition.not_awaiting": _lt(
        "This check is no longer waiting for the till. Check the Centrapay window: "
        "it shows what Centrapay says now."
    ),
    "validation.too_long": _lt(
        "A reference is too long for Centrapay. Try again; if it happens again, "
        "report it to your Odoo administrator."
    ),
    # --- The manager's "Test connection" (what failed, what to check) ----------
    "connection_test.title": _lt("Centrapay connection test failed"),
    "connection_test.bad_url": _lt(
        'The Centrapay API URL "%(url)s" is not a valid address. Check the API URL: '
        "it must start with http:// or https:// and name a host, for example "
        "http://127.0.0.1:8900 for the local sandbox."
    ),
    "connection_test.unreachable": _lt(
        "Odoo could not reach %(url)s. Check the host and port of the API URL, and "
        "that the Odoo server can reach that host (network, firewall, DNS). For "
        "the local sandbox, check that it is running."
    ),
    "connection_test.timeout": _lt(
        "%(url)s did not answer in time. Check that the API URL names a Centrapay "
        "API that is up, then test again."
    ),
    "connection_test.not_centrapay": _lt(
        "%(url)s answered, but not as the Centrapay API does. Check the API URL: it "
        "must be the API's base address, without a path such as /api."
    ),
    "connection_test.server_error": _lt(
        "Centrapay at %(url)s had an internal error. Test again in a moment; if it "
        "goes on, contact Centrapay."
    ),
    "connection_test.api_key": _lt(
        "Centrapay at %(url)s refused the API key: it is wrong, disabled or expired, "
        "or belongs to another environment. Check the API key (a merchant-terminal "
        "key Centrapay gave for this environment)."
    ),
    "connection_test.merchant_id": _lt(
        "Centrapay accepted the API key, but it may not read the payment activities "
        'of merchant "%(merchant_id)s". Check the Merchant ID: it must be the '
        "merchant of this API key, or leave it empty."
    ),
    "connection_test.merchant_config": _lt(
        "Centrapay accepted the API key, but does not know merchant config "
        '"%(config)s" for it. Check the Merchant Config ID (mc_...) that '
        "Centrapay gave for this store, and that it belongs to the API key's "
        "merchant."
    ),
    "connection_test.rate_limited": _lt(
        "Centrapay is busy (too many requests for this account). Test again in a "
        "minute."
    ),
    "connection_test.other": _lt(
        "Centrapay at %(url)s answered the connection test with an error: "
        "%(message)s Check the payment method's settings, then test again."
    ),
    "connection_test.success_title": _lt("Centrapay connection works"),
    "connection_test.success": _lt(
        "Reached Centrapay at %(url)s: the API key is accepted and merchant config "
        '"%(config)s" is known.'
    ),
    "connection_test.success_merchant": _lt(
        "Reached Centrapay at %(url)s: the API key is accepted, merchant config "
        '"%(config)s" is known, and the payment activities of merchant '
        '"%(merchant_id)s" can be read.'
    ),
}

_SPACES = re.compile(r"\s+")


def _lookup(code):
    """The table entry of a code, tolerating Centrapay's spelling variants."""
    if not isinstance(code, str) or not code.strip():
        return None
    code = code.strip()
    for candidate in (code, code.upper(), code.upper().replace(" ", "_")):
        if candidate in ERROR_MESSAGES:
            return ERROR_MESSAGES[candidate]
    return None


def _scrub(env, text):
    """``text`` without any Centrapay API key stored in this database."""
    methods = (
        env["pos.payment.method"]
        .sudo()
        .with_context(active_test=False)
        .search(
            [
                ("use_payment_terminal", "=", "centrapay"),
                ("centrapay_api_key", "!=", False),
            ]
        )
    )
    for api_key in set(methods.mapped("centrapay_api_key")):
        text = text.replace(api_key, "***")
    return text


def _with_reason(env, message, reason):
    """Append Centrapay's free-text reason, on one line, cut to a sane length."""
    if not isinstance(reason, str):
        return message
    reason = _SPACES.sub(" ", reason).strip()
    if not reason:
        return message
    if len(reason) > REASON_MAX_LENGTH:
        reason = reason[: REASON_MAX_LENGTH - 1] + "…"
    return env._(
        "%(message)s Centrapay says: %(reason)s", message=message, reason=reason
    )


def centrapay_code_message(env, code, reason=None):
    """The translated message for a Centrapay code or cancellation reason.

    A code that is not in :data:`ERROR_MESSAGES` is shown inside a generic
    message; a documented one never appears raw. ``reason`` is appended as
    information only.
    """
    entry = _lookup(code)
    if entry is not None:
        message = env._(entry)
    else:
        message = env._('Centrapay reported "%(code)s".', code=code)
    return _scrub(env, _with_reason(env, message, reason))


def _api_error_message(env, exc):
    entry = _lookup(exc.code)
    if entry is not None:
        return env._(entry)
    status = exc.http_status
    if isinstance(exc, cp_errors.CentrapayRateLimited) or status == 429:
        return env._(ERROR_MESSAGES["RATE_LIMIT_EXCEEDED"])
    if status == 400:
        return env._(
            "Centrapay refused the request as invalid (%(code)s). Ask a manager to "
            "check the payment method.",
            code=exc.code,
        )
    if status == 401:
        return env._(
            "Centrapay refused the API key (%(code)s). Ask a manager to check the "
            "payment method's API key.",
            code=exc.code,
        )
    if status == 403:
        return env._("Centrapay refused the operation (%(code)s).", code=exc.code)
    if status == 404:
        return env._(
            "Centrapay does not know this address or payment request (%(code)s). "
            "Ask a manager to check the payment method's API URL.",
            code=exc.code,
        )
    return env._(
        "Centrapay answered with an error (HTTP %(status)s, %(code)s).",
        status=status,
        code=exc.code,
    )


def _validation_message(env, exc):
    for key in (f"validation.{exc.field}", f"validation.{exc.code}"):
        if key in ERROR_MESSAGES:
            return env._(ERROR_MESSAGES[key])
    return env._(
        "Odoo could not prepare a valid Centrapay request (%(field)s). Ask a manager "
        "to check the payment method.",
        field=exc.field,
    )


def centrapay_connection_test_message(env, exc, step, **values):
    """What failed in a manager's "Test connection", and what to check.

    ``step``: ``url`` (the client could not be made), ``key`` (the
    authenticated read), ``merchant_id`` or ``merchant_config``. ``values``:
    ``url``, ``merchant_id``, ``config``.
    """

    def text(key, **extra):
        return _scrub(env, env._(ERROR_MESSAGES[key]) % {**values, **extra})

    if isinstance(exc, cp_errors.CentrapayValidationError):
        if exc.field == "base_url":
            return text("connection_test.bad_url")
        if exc.field == "api_key":
            return text("connection_test.api_key")
    if isinstance(
        exc, cp_errors.CentrapayBudgetExhausted | cp_errors.CentrapayRateLimited
    ):
        return text("connection_test.rate_limited")
    if isinstance(exc, cp_errors.CentrapayUnknownOutcome):
        key = {
            "connection": "connection_test.unreachable",
            "timeout": "connection_test.timeout",
            "server_error": "connection_test.server_error",
        }.get(exc.kind, "connection_test.not_centrapay")
        return text(key)
    if isinstance(exc, cp_errors.CentrapayAuthError):
        return text("connection_test.api_key")
    if isinstance(exc, cp_errors.CentrapayNotFound) and not _lookup_documented(exc):
        return text("connection_test.not_centrapay")
    if isinstance(exc, cp_errors.CentrapayForbidden):
        if step == "merchant_config" and exc.code in (
            "MERCHANT_CONFIG_NOT_FOUND",
            "MERCHANT_CONFIGURATION_NOT_FOUND",
            "INVALID_MERCHANT_CONFIG",
            "Forbidden",
            "FORBIDDEN",
        ):
            return text("connection_test.merchant_config")
        if step == "merchant_id" and exc.is_generic:
            return text("connection_test.merchant_id")
    return text("connection_test.other", message=centrapay_error_message(env, exc))


def _lookup_documented(exc):
    """True when a 404 carries a documented code rather than "Not Found"."""
    return exc.code not in ("Not Found", "NOT FOUND") and _lookup(exc.code) is not None


def centrapay_error_message(env, exc):
    """A translated, key-free message for an exception of ``centrapay/errors.py``.

    For the cashier or the manager: it says what happened and what to do.
    Unknown codes are shown inside a generic message; ``reason`` is appended for
    information only. Any Centrapay API key stored in the database is masked.
    """
    if isinstance(exc, cp_errors.CentrapayBudgetExhausted):
        # Our own budget held the call back: nothing was sent.
        message = env._(ERROR_MESSAGES["RATE_LIMIT_EXCEEDED"])
    elif isinstance(exc, cp_errors.CentrapayUnknownOutcome):
        detail = ERROR_MESSAGES.get(f"unknown_outcome.{exc.kind}")
        message = env._(ERROR_MESSAGES["unknown_outcome"])
        if detail is not None:
            message = env._(
                "%(detail)s %(message)s", detail=env._(detail), message=message
            )
    elif isinstance(exc, cp_errors.CentrapayAPIError):
        message = _with_reason(env, _api_error_message(env, exc), exc.reason)
    elif isinstance(exc, cp_errors.CentrapayValidationError):
        message = _validation_message(env, exc)
    else:
        message = env._(
            "Centrapay error. A manager can check the request in Point of Sale > "
            "Reporting > Centrapay Requests."
        )
    return _scrub(env, message)

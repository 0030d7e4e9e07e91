import base64
import json
import logging
import math
from decimal import Decimal
from pathlib import Path

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import float_compare, float_repr

from .. import const, error_messages
from ..centrapay import errors as cp_errors
from ..centrapay import retry
from ..centrapay.branding import cashier_label
from ..centrapay.client import CentrapayClient, shared_session
from ..centrapay.line_items import parse_basket
from ..centrapay.webhook import WebhookVerifier
from .centrapay_payment_request import clean_text

_logger = logging.getLogger(__name__)

# One verifier per (JWKS URL, audience), so the JWKS cache outlives a request.
_VERIFIERS = {}

# Configuration that the POS may not change while a session is open, except the
# credentials, which must be rotatable at any time, and what the server decides
# at each request: the flags it sends, and the Farmlands rate it quotes and
# checks (a till that loaded another rate only asks for a quote, or not).
_WRITABLE_WHILE_OPEN = {
    "centrapay_api_key",
    "centrapay_partial_allowed",
    "centrapay_conditions_enabled",
    "centrapay_farmlands_discount",
}

MARK_PNG = (
    Path(__file__).resolve().parent.parent / "static/src/img/centrapay_mark_orange.png"
)


def centrapay_mark_b64():
    return base64.b64encode(MARK_PNG.read_bytes())


class PosPaymentMethod(models.Model):
    _inherit = "pos.payment.method"

    centrapay_api_key = fields.Char(
        string="Centrapay API Key",
        help="A merchant-terminal API key. It never leaves the server.",
        copy=False,
        groups="point_of_sale.group_pos_manager",
    )
    centrapay_merchant_config_id = fields.Char(
        string="Merchant Config ID",
        help="The Centrapay merchant config (mc_...) of this store or terminal.",
        copy=False,
    )
    centrapay_merchant_id = fields.Char(
        string="Merchant ID",
        help="Used to list the merchant's payment activities for reconciliation.",
        copy=False,
    )
    centrapay_merchant_account_id = fields.Char(
        string="Merchant Account ID",
        help="The merchant's Centrapay account id. It lets Odoo find a request "
        "whose create answer was lost (by its external reference) and void it.",
        copy=False,
    )
    centrapay_environment = fields.Selection(
        [
            ("sandbox", "Local sandbox"),
            ("production", "Production"),
            ("custom", "Custom URL"),
        ],
        string="Centrapay Environment",
        default="production",
        help="Production: Centrapay's live service. Local sandbox: the emulator "
        "shipped with this module, for trials and tests. Custom URL: another "
        "Centrapay environment.",
    )
    centrapay_base_url = fields.Char(
        string="Centrapay API URL",
        help="The API base URL for the sandbox or a custom environment.",
    )
    centrapay_jwks_url = fields.Char(
        string="Webhook Keys URL",
        help="Where Centrapay publishes the keys that sign its webhooks (JWKS). "
        "Leave it empty to use the environment's default, shown in grey.",
    )
    centrapay_jwks_default_url = fields.Char(
        string="Default Webhook Keys URL",
        compute="_compute_centrapay_jwks_default_url",
        help="The Webhook Keys URL used when the field is left empty.",
    )
    centrapay_currency_id = fields.Many2one(
        "res.currency",
        string="Centrapay Currency",
        compute="_compute_centrapay_currency_id",
        store=True,
        help="The currency of this method's Centrapay requests: its journal's, "
        "or its company's.",
    )
    centrapay_expiry_seconds = fields.Integer(
        string="Request Expiry (s)",
        default=const.DEFAULT_EXPIRY_SECONDS,
        help="How long a patron has to pay a QR code. The POS gives up a few "
        "seconds later and voids the request.",
    )
    centrapay_webhook_enabled = fields.Boolean(
        string="Webhooks",
        help="Accept Centrapay webhooks to learn of payments faster. Polling "
        "always runs as well.",
    )
    centrapay_partial_allowed = fields.Boolean(
        string="Partial Payments",
        help="Let the customer pay part of the amount with Centrapay (a token "
        "or a low balance, say); the cashier takes the rest with another "
        "method. Requests are sent with partialAllowed and the order's amount "
        "due as basketAmount.",
    )
    centrapay_conditions_enabled = fields.Boolean(
        string="Payment Conditions",
        help="Let Centrapay ask the cashier to accept or decline a condition "
        "before the payment goes through (a photo-ID check for age-restricted "
        "goods, say). Requests are sent with conditionsEnabled; without it, a "
        "payment that needs a condition is cancelled.",
    )
    centrapay_farmlands_discount = fields.Float(
        string="Farmlands Discount (%)",
        digits=(5, 2),
        default=0.0,
        help="The discount agreed with Farmlands, from 0 to 100 (0: none). When "
        "a scanned Farmlands card pays the whole order, every order line gets it "
        "before the card is charged; no other tender ever does, and Odoo refuses "
        "an order carrying it that the card did not pay.",
    )
    centrapay_webhook_url = fields.Char(
        string="Webhook URL",
        compute="_compute_centrapay_webhook_url",
        help="Give this URL to Centrapay support to subscribe the webhooks.",
    )
    # How the method looks to the cashier (CP-CORE-3, CP-POS-12): its button shows
    # Centrapay's mark and the label of centrapay/branding.py.
    # Learnt on the requests, never written on this row: concurrent creates
    # check their foreign key against it, and would fail to serialize.
    centrapay_asset_types = fields.Char(
        string="Accepted Assets",
        compute="_compute_centrapay_asset_types",
        help="The asset types the merchant config accepts, as Centrapay listed "
        "them on the last request created.",
    )
    centrapay_label = fields.Char(
        string="Cashier Label",
        compute="_compute_centrapay_label",
        help="What the payment button says: Centrapay, or Farmlands when it is "
        "the config's only option.",
    )
    centrapay_last_device_id = fields.Char(
        string="Last Device ID", compute="_compute_centrapay_last_request"
    )
    centrapay_last_terminal_id = fields.Char(
        string="Last Terminal ID", compute="_compute_centrapay_last_request"
    )

    _sql_constraints = [
        (
            "centrapay_farmlands_discount_range",
            "CHECK(centrapay_farmlands_discount IS NULL OR "
            "centrapay_farmlands_discount BETWEEN 0 AND 100)",
            "The Farmlands discount is a rate between 0 and 100 %.",
        ),
    ]

    def _get_payment_terminal_selection(self):
        return super()._get_payment_terminal_selection() + [("centrapay", "Centrapay")]

    @api.model
    def _load_pos_data_fields(self, config_id):
        return super()._load_pos_data_fields(config_id) + [
            "centrapay_expiry_seconds",
            "centrapay_label",
            "centrapay_farmlands_discount",
        ]

    def _is_write_forbidden(self, fields):
        return super()._is_write_forbidden(fields - _WRITABLE_WHILE_OPEN)

    @api.model_create_multi
    def create(self, vals_list):
        methods = super().create(vals_list)
        methods._centrapay_set_mark()
        return methods

    def write(self, vals):
        res = super().write(vals)
        if "use_payment_terminal" in vals or "image" in vals:
            self._centrapay_set_mark()
        return res

    @api.onchange("centrapay_environment")
    def _onchange_centrapay_environment(self):
        """The sandbox's usual address, when the person picks the sandbox."""
        for method in self:
            if method.centrapay_environment == "sandbox" and not (
                method.centrapay_base_url
            ):
                method.centrapay_base_url = const.DEFAULT_SANDBOX_URL

    @api.depends("centrapay_environment", "centrapay_base_url")
    def _compute_centrapay_jwks_default_url(self):
        for method in self:
            method.centrapay_jwks_default_url = method._centrapay_default_jwks_url()

    @api.depends("journal_id.currency_id", "company_id.currency_id")
    def _compute_centrapay_currency_id(self):
        # Stored: a create reads it with the method's own row, where the
        # journal and the company are wide records to fetch for one column.
        for method in self:
            method.centrapay_currency_id = (
                method.journal_id.currency_id or method.company_id.currency_id
            )

    def _centrapay_default_jwks_url(self):
        """The environment's Webhook Keys URL (JWKS)."""
        self.ensure_one()
        if self.centrapay_environment == "production":
            return const.PRODUCTION_JWKS_URL
        base = (self.centrapay_base_url or "").rstrip("/")
        return f"{base}/api/.well-known/jwks.json" if base else False

    def _compute_centrapay_webhook_url(self):
        for method in self:
            method.centrapay_webhook_url = (
                f"{method.get_base_url()}/pos_centrapay/webhook"
            )

    @api.constrains(
        "use_payment_terminal",
        "centrapay_api_key",
        "centrapay_merchant_config_id",
        "centrapay_environment",
        "centrapay_base_url",
        "centrapay_expiry_seconds",
        "journal_id",
        "company_id",
    )
    def _check_centrapay_configuration(self):
        for method in self.filtered(lambda m: m.use_payment_terminal == "centrapay"):
            if not method.sudo().centrapay_api_key:
                raise ValidationError(
                    self.env._(
                        "Centrapay needs an API key on payment method %s.", method.name
                    )
                )
            if not method.centrapay_merchant_config_id:
                raise ValidationError(
                    self.env._(
                        "Centrapay needs a merchant config id on payment method %s.",
                        method.name,
                    )
                )
            if method.centrapay_environment != "production" and not (
                method.centrapay_base_url or ""
            ).startswith(("http://", "https://")):
                raise ValidationError(
                    self.env._(
                        "The Centrapay API URL must start with http:// or https://."
                    )
                )
            if not (
                const.MIN_EXPIRY_SECONDS
                <= method.centrapay_expiry_seconds
                <= const.MAX_EXPIRY_SECONDS
            ):
                raise ValidationError(
                    self.env._(
                        "The Centrapay request expiry must be between %(min)s and "
                        "%(max)s seconds.",
                        min=const.MIN_EXPIRY_SECONDS,
                        max=const.MAX_EXPIRY_SECONDS,
                    )
                )
            currency = method._centrapay_currency()
            if currency.name not in const.SUPPORTED_CURRENCIES:
                raise ValidationError(
                    self.env._(
                        "Centrapay cannot take payments in %(currency)s. "
                        "Supported currencies: %(supported)s.",
                        currency=currency.name,
                        supported=", ".join(const.SUPPORTED_CURRENCIES),
                    )
                )

    @api.constrains("centrapay_farmlands_discount")
    def _check_centrapay_farmlands_discount(self):
        for method in self:
            if not 0 <= method.centrapay_farmlands_discount <= 100:
                raise ValidationError(
                    self.env._(
                        "The Farmlands discount of payment method %s must be "
                        "between 0 and 100 %%.",
                        method.name,
                    )
                )

    def _compute_centrapay_asset_types(self):
        Request = self.env["centrapay.payment.request"].sudo()
        for method in self:
            last = Request.browse()
            if method.id:
                last = Request.search(
                    [
                        ("payment_method_id", "=", method.id),
                        ("accepted_asset_types", "!=", False),
                    ],
                    limit=1,
                    order="id desc",
                )
            method.centrapay_asset_types = last.accepted_asset_types or False

    @api.depends("centrapay_asset_types")
    def _compute_centrapay_label(self):
        for method in self:
            types = (method.centrapay_asset_types or "").split(",")
            method.centrapay_label = cashier_label(types)

    def _compute_centrapay_last_request(self):
        Request = self.env["centrapay.payment.request"].sudo()
        for method in self:
            last = Request.browse()
            if method.id:
                last = Request.search(
                    [("payment_method_id", "=", method.id)], limit=1, order="id desc"
                )
            # Empty (False) when the method has made no request yet.
            method.centrapay_last_device_id = last.device_id or False
            method.centrapay_last_terminal_id = last.terminal_id or False

    # --- Configuration helpers ----------------------------------------------------

    def _centrapay_set_mark(self):
        """Centrapay's mark in place of the generic terminal icon, unless set."""
        plain = self.filtered(
            lambda m: m.use_payment_terminal == "centrapay" and not m.image
        )
        if plain:
            plain.write({"image": centrapay_mark_b64()})

    def _centrapay_currency(self):
        """The currency of this method's requests (its journal's, or its company's)."""
        self.ensure_one()
        return self.centrapay_currency_id

    def _centrapay_api_url(self):
        self.ensure_one()
        if self.centrapay_environment == "production":
            return const.PRODUCTION_API_URL
        return (self.centrapay_base_url or "").rstrip("/")

    def _centrapay_external_asset_type(self):
        """The asset type of a tender taken outside Centrapay (CP-EXT-13): the
        test one for a test merchant (the sandbox, or test assets accepted)."""
        self.ensure_one()
        types = (self.centrapay_asset_types or "").split(",")
        if self.centrapay_environment == "sandbox" or any(
            t.endswith(".test") for t in types
        ):
            return "external.test"
        return "external.main"

    def _centrapay_client(self, kind, session=None):
        """A client for this method's account, spending its shared rate budget.

        ``kind``: the kind of call (``centrapay/retry.py``: create, void,
        refund, cashier, read, urgent, feed), whose policy says how often it is
        tried, how long it waits and whose share of the budget it spends.
        ``session``: the POS session a cashier's call is for, which gets its
        fair share of the budget (``centrapay.rate.limit``). Raises UserError
        when the method is not configured for Centrapay.
        """
        self.ensure_one()
        api_key = self.sudo().centrapay_api_key
        if self.use_payment_terminal != "centrapay" or not api_key:
            raise UserError(
                self.env._(
                    "Payment method %s is not configured for Centrapay.", self.name
                )
            )
        RateLimit = self.env["centrapay.rate.limit"]
        key = RateLimit._key_for(api_key)
        base_url = self._centrapay_api_url()
        rules = retry.policy(kind)
        return CentrapayClient(
            base_url,
            api_key,
            # One pooled session per account and process: calls reuse connections.
            session=shared_session(base_url, api_key),
            logger=_logger,
            max_retries=rules.attempts - 1,
            backoff=rules.backoff,
            max_retry_after=rules.wait,
            before_attempt=lambda: RateLimit._take(
                key, rules, session_id=session and session.id
            ),
            on_rate_limited=lambda retry_after: RateLimit._block(key, retry_after),
        )

    def _centrapay_keep_warm(self, count, at_least=False):
        """Keep ``count`` connections to this method's Centrapay open in this
        process for ``KEEP_WARM_SECONDS`` (``CentrapayClient.keep_warm``; no
        call is made): a create that finds one pays one round trip, not three.

        The engine asks for one per till of the account, in its own process
        (``centrapay.engine._centrapay_keep_warm``). A till's RPC asks for at
        least one in the process serving it: on a prefork server that is an
        HTTP worker, not the engine's, and it serves one request at a time.
        """
        self.ensure_one()
        try:
            self._centrapay_client("read").keep_warm(
                count, seconds=const.KEEP_WARM_SECONDS, at_least=at_least
            )
        except Exception:  # noqa: BLE001
            # Only a head start for creates, never worth a pass or an RPC: a
            # method whose URL or key the client refuses says so at each call.
            _logger.debug(
                "Centrapay: connections of method %s not kept open",
                self.id,
                exc_info=True,
            )

    def _centrapay_rate_key(self):
        """The account whose rate budget a call spends (one API key, one account)."""
        self.ensure_one()
        return self.env["centrapay.rate.limit"]._key_for(self.sudo().centrapay_api_key)

    def _centrapay_verifier(self):
        self.ensure_one()
        jwks_url = self.centrapay_jwks_url or self._centrapay_default_jwks_url()
        key = (jwks_url, self.centrapay_webhook_url)
        if key not in _VERIFIERS:
            _VERIFIERS[key] = WebhookVerifier(jwks_url, self.centrapay_webhook_url)
        return _VERIFIERS[key]

    # --- Who may call -------------------------------------------------------------

    def _centrapay_check_manager(self):
        """A POS manager of this method's company, before any sudo()."""
        if len(self) != 1:
            raise UserError(self.env._("Pick one Centrapay payment method."))
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise AccessError(
                self.env._("Only Point of Sale managers can test Centrapay.")
            )
        self.check_access("write")
        if self.company_id.id not in self.env.user._get_company_ids():
            raise AccessError(self.env._("This payment method is of another company."))

    def _centrapay_check_cashier(self, session_id):
        """The caller may take Centrapay payments with this method in that session.

        A POS user, of the method's company, in an open session of a POS that
        offers this method, which the caller can read (company rules). Returns
        the session. Checked before any sudo().
        """
        if len(self) != 1 or len(set(self._ids)) != 1:
            raise UserError(self.env._("Pick one Centrapay payment method."))
        if not self.env.user.has_group("point_of_sale.group_pos_user"):
            raise AccessError(
                self.env._("Only Point of Sale users can take Centrapay payments.")
            )
        self.check_access("read")
        if (
            self.use_payment_terminal != "centrapay"
            # The user's companies, cached by Odoo (the user record is wide).
            or self.company_id.id not in self.env.user._get_company_ids()
        ):
            raise AccessError(
                self.env._("This payment method does not take Centrapay payments.")
            )
        if isinstance(session_id, bool) or not isinstance(session_id, int):
            raise UserError(self.env._("The POS sent no valid session."))
        session = self.env["pos.session"].browse(session_id).exists()
        if session:
            session.check_access("read")
        # Whether the POS offers the method, once the caller may read both:
        # as superuser, so the list is not read through the methods' rules.
        if (
            not session
            or session.state != "opened"
            or session.company_id != self.company_id
            or self not in session.sudo().config_id.payment_method_ids
        ):
            raise AccessError(
                self.env._("This payment method is not part of an open POS session.")
            )
        return session

    def action_centrapay_test_connection(self):
        """Check the URL, the key, the merchant id and the merchant config with
        harmless reads; a notification says what was checked, or what failed
        and what to check."""
        self._centrapay_check_manager()
        values = {
            "url": self._centrapay_api_url(),
            "merchant_id": self.centrapay_merchant_id or "",
            "config": self.centrapay_merchant_config_id or "",
        }
        step = "url"
        try:
            client = self._centrapay_client("cashier")
            client.max_retries = 0  # a test answers at once; the manager retries
            step = "key"
            if self.centrapay_merchant_id:
                step = "merchant_id"
                client.list_payment_activities(self.centrapay_merchant_id, limit=1)
            else:
                # An unknown id answers 403 with a valid key and 401 without one.
                try:
                    client.get_payment_request("odoo-connection-test")
                except cp_errors.CentrapayForbidden as exc:
                    if not exc.is_generic:
                        raise
            step = "merchant_config"
            # E17 decodes a code for a merchant config: no code is valid here,
            # so a known config answers UNKNOWN_CODE (or CHECKSUM_FAILED).
            try:
                client.decode_scanned_code(
                    "odoo-connection-test", self.centrapay_merchant_config_id
                )
            except cp_errors.CentrapayForbidden as exc:
                if exc.code not in ("UNKNOWN_CODE", "CHECKSUM_FAILED"):
                    raise
            except cp_errors.CentrapayBadRequest as exc:
                if exc.code != "CHECKSUM_FAILED":
                    raise
        except cp_errors.CentrapayError as exc:
            _logger.info(
                "Centrapay connection test of payment method %s failed at %s: %r",
                self.id,
                step,
                exc,
            )
            return self._centrapay_notification(
                "danger",
                self.env._(error_messages.ERROR_MESSAGES["connection_test.title"]),
                error_messages.centrapay_connection_test_message(
                    self.env, exc, step, **values
                ),
            )
        key = (
            "connection_test.success_merchant"
            if self.centrapay_merchant_id
            else "connection_test.success"
        )
        return self._centrapay_notification(
            "success",
            self.env._(error_messages.ERROR_MESSAGES["connection_test.success_title"]),
            self.env._(error_messages.ERROR_MESSAGES[key]) % values,
        )

    @api.model
    def _centrapay_notification(self, kind, title, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "title": title,
                "message": message,
                "sticky": kind == "danger",
            },
        }

    # --- RPC called by the POS ----------------------------------------------------

    def centrapay_create_request(self, data):
        """Create (or reuse) the Payment Request of a POS payment line.

        ``data``: ``amount`` (in the method's currency), ``payment_uuid``,
        ``session_id``, and optional ``order_uuid``, ``order_name``,
        ``device_id``, ``line_items`` and ``barcode`` (the patron's code,
        scanned or typed: the barcode flow, checked and decoded here before
        anything is stored). Returns the request's public state, or
        ``{"error": message}``.
        """
        if not isinstance(data, dict):
            return {"error": self.env._("The POS sent a malformed Centrapay request.")}
        session = self._centrapay_check_cashier(data.get("session_id"))
        Request = self.env["centrapay.payment.request"].sudo()
        try:
            clean = self._centrapay_clean_create_data(data)
            state = Request._centrapay_create_for_line(
                self, session, clean["amount"], clean
            )
        except (UserError, ValidationError) as exc:
            return {"error": exc.args[0]}
        if not state.get("error"):
            state["poll_ms"] = self._centrapay_poll_ms()
            self._centrapay_keep_warm(1, at_least=True)
        return state

    def centrapay_farmlands_discount_quote(self, data):
        """The Farmlands discount a scanned code would give the order (CP-ASSET-3).

        ``data`` as for ``centrapay_create_request``, with ``barcode``. The
        code is decoded (E17); nothing is created at Centrapay. Returns
        ``provider``, ``rate`` and ``discount`` (minor units, tax excluded):
        ``rate`` and ``discount`` are False unless a Farmlands card would pay
        the whole order with a discount; or ``{"error": message}``.
        """
        if not isinstance(data, dict):
            return {"error": self.env._("The POS sent a malformed Centrapay request.")}
        self._centrapay_check_cashier(data.get("session_id"))
        Request = self.env["centrapay.payment.request"].sudo()
        try:
            clean = self._centrapay_clean_create_data(data)
            if not clean["barcode"]:
                Request._centrapay_normalize_barcode("")
            return Request._centrapay_farmlands_quote(self, clean)
        except (UserError, ValidationError) as exc:
            return {"error": exc.args[0]}

    def _centrapay_poll_ms(self, account=None):
        """How often a waiting till should ask for its request's status (ms),
        or 0: while the engine runs, the bus tells the till. On a host whose
        cron does not run (or runs late), the tills' polls are the engine
        (``centrapay.engine._centrapay_poll``): each waiting till polls every
        ``POLL_PASS_SECONDS``, or less often when many wait, so that the
        server is not flooded (10 polls a second per method at most).
        """
        if account is None:
            account = (
                self.env["centrapay.account"]
                .sudo()
                .search([("key", "=", self._centrapay_rate_key())], limit=1)
            )
        if account and account._centrapay_engine_alive():
            return 0
        waiting = (
            self.env["centrapay.payment.request"]
            .sudo()
            .search_count(
                [
                    ("payment_method_id", "=", self.id),
                    ("status", "in", const.PENDING_STATUSES),
                ]
            )
        )
        seconds = min(
            const.POS_POLL_MAX_SECONDS,
            max(const.POLL_PASS_SECONDS, waiting * const.POS_POLL_SHARE_SECONDS),
        )
        return int(seconds * 1000)

    def centrapay_get_status(self, centrapay_id, session_id):
        """The request's state, as the engine knows it.

        When the engine is not running (no cron worker, or its runner could not
        start), the tills' polls stand in for it: at most one poll every
        ``POLL_PASS_SECONDS`` per account makes the engine's pass over that
        account (``_centrapay_poll``). ``poll_ms``: when to ask again (0: the
        bus will tell).
        """
        request = self._centrapay_pos_request(centrapay_id, session_id)
        self._centrapay_keep_warm(1, at_least=True)
        if request.status not in const.PENDING_STATUSES:
            return dict(request._centrapay_public_state(), poll_ms=0)
        key = self._centrapay_rate_key()
        account = self.env["centrapay.account"].sudo().search([("key", "=", key)])
        poll_ms = self._centrapay_poll_ms(account)
        if poll_ms:
            self.env["centrapay.engine"]._centrapay_wake()
            # Nothing of this transaction may be written after the pass.
            self.env.flush_all()
            if self.env["centrapay.engine"].sudo()._centrapay_poll(key):
                # The pass committed in transactions of its own, after this
                # one's snapshot: read the request afresh.
                self.env.invalidate_all()
                with self.pool.cursor() as cr:
                    state = request.with_env(
                        request.env(cr=cr)
                    )._centrapay_public_state()
                    return dict(state, poll_ms=poll_ms)
        return dict(request._centrapay_public_state(), poll_ms=poll_ms)

    def centrapay_cancel_request(self, centrapay_id, session_id):
        """Void the request (there is no cancel endpoint) and return its state."""
        request = self._centrapay_pos_request(centrapay_id, session_id)
        request._centrapay_void(reason="cashier")
        return request._centrapay_public_state()

    def centrapay_accept_condition(self, centrapay_id, session_id, condition_id):
        """Accept a condition awaiting the till (E11); the request's new state."""
        return self._centrapay_answer_condition(
            centrapay_id, session_id, condition_id, accept=True
        )

    def centrapay_decline_condition(self, centrapay_id, session_id, condition_id):
        """Decline a condition awaiting the till (E12); the request's new state."""
        return self._centrapay_answer_condition(
            centrapay_id, session_id, condition_id, accept=False
        )

    def _centrapay_answer_condition(
        self, centrapay_id, session_id, condition_id, accept
    ):
        """Answer a condition, read the request again at once, return its state
        (with ``answer_error`` when Centrapay refused the answer)."""
        request = self._centrapay_pos_request(centrapay_id, session_id)
        if isinstance(condition_id, int) and not isinstance(condition_id, bool):
            condition_id = str(condition_id)
        if not isinstance(condition_id, str) or not (
            0 < len(condition_id) <= const.MAX_ID_LENGTH
        ):
            return {"error": self.env._("The POS sent no valid condition.")}
        refused = request._centrapay_answer_condition(condition_id, accept)
        state = request._centrapay_public_state()
        if refused:
            state["answer_error"] = refused
        return state

    def centrapay_abandon_request(self, centrapay_id, session_id):
        """The cashier removed a partly paid payment from its order: what
        Centrapay took is given back (doc §10.3), unless an order line claims
        it in time. Returns the request's state, or ``{"error": message}``."""
        request = self._centrapay_pos_request(centrapay_id, session_id)
        try:
            request._centrapay_abandon()
        except UserError as exc:
            return {"error": exc.args[0]}
        _logger.info("Centrapay request %s: abandoned at the till", request.id)
        return request._centrapay_public_state()

    def centrapay_refund_quote(self, data):
        """What a POS refund line may refund through Centrapay, before it is sent.

        ``data`` as for ``centrapay_refund_request``. Returns the payment's
        ``centrapay_id`` and ``short_code``, ``left`` (the most this refund may
        take) and ``refunded`` (what was refunded of the payment already), or
        ``{"error": message}``.
        """
        if not isinstance(data, dict):
            return {"error": self.env._("The POS sent a malformed Centrapay request.")}
        session = self._centrapay_check_cashier(data.get("session_id"))
        try:
            plan = self._centrapay_pos_refund_plan(session, data)
        except (UserError, ValidationError) as exc:
            return {"error": exc.args[0]}
        request = plan["request"]
        return {
            "centrapay_id": request.centrapay_id,
            "short_code": request.short_code or False,
            "left": plan["left"],
            "refunded": request.currency_id.round(
                request._centrapay_taken() - request._centrapay_refundable()
            ),
        }

    def centrapay_refund_request(self, data):
        """Refund a Centrapay payment from a POS refund line (doc §8).

        ``data``: ``amount`` (positive, in the method's currency), ``payment_uuid``
        (the refund line), ``session_id``, ``order_uuid`` (the refund order),
        ``refunded_lines`` (``[{"id": original order line, "qty": returned}]``),
        either ``centrapay_id`` (the original payment's request) or
        ``short_code`` (from the customer's receipt), and optional
        ``line_items`` (the refunded lines, for Centrapay). The server decides
        what may be refunded (``_centrapay_pos_refund_plan``). The same
        ``payment_uuid`` resends the same refund (same externalRef), so a retry
        never refunds twice. Returns the refund's public state, or
        ``{"error": message}``.
        """
        if not isinstance(data, dict):
            return {"error": self.env._("The POS sent a malformed Centrapay request.")}
        session = self._centrapay_check_cashier(data.get("session_id"))
        Refund = self.env["centrapay.refund"].sudo()
        try:
            clean = self._centrapay_clean_create_data(data)
            refund = Refund.search(
                [
                    ("pos_payment_uuid", "=", clean["payment_uuid"]),
                    ("pos_session_id", "=", session.id),
                    ("company_id", "=", self.company_id.id),
                ],
                limit=1,
            )
            if refund:
                refund._centrapay_send()
                return refund._centrapay_public_state()
            plan = self._centrapay_pos_refund_plan(session, data)
            request = plan["request"]
            if (
                request.currency_id.compare_amounts(
                    float(clean["amount"]), plan["left"]
                )
                > 0
            ):
                raise UserError(
                    self.env._(
                        "At most %(left)s can be refunded through Centrapay "
                        "payment %(code)s for these lines. Refund the rest with "
                        "another method.",
                        left=request.currency_id.format(plan["left"]),
                        code=request.short_code or request.centrapay_id,
                    )
                )
            refund = Refund._centrapay_start(
                request,
                clean["amount"],
                "pos",
                pos_payment_uuid=clean["payment_uuid"],
                pos_session_id=session.id,
                pos_order_uuid=plan["order_uuid"],
                refunded_lines_json=json.dumps(plan["claimed"]),
                line_items=clean["line_items"],
            )
        except (UserError, ValidationError) as exc:
            return {"error": exc.args[0]}
        _logger.info(
            "Centrapay refund %s in session %s: %s",
            refund.external_ref,
            session.id,
            refund.state,
        )
        return refund._centrapay_public_state()

    def _centrapay_pos_refund_plan(self, session, data):
        """The paid request a POS refund goes against, and the most it may refund.

        A refund belongs to a refund order of the caller's open session
        (``order_uuid``) whose lines return lines of the sale that request paid
        (``refunded_lines``). It refunds at most what those lines are worth,
        none of them beyond what was not returned yet, and never more than is
        left of the payment. A payment with no sale in Odoo (found by its short
        code) is a manager's decision: only a POS manager refunds it at the till.
        Raises UserError.
        """
        order_uuid = clean_text(data.get("order_uuid"), const.MAX_ID_LENGTH)
        if not order_uuid:
            raise UserError(self.env._("The POS sent no refund order."))
        claimed = self._centrapay_parse_refunded_lines(data.get("refunded_lines"))
        request = self._centrapay_refund_target(data)
        lines = self.env["pos.order.line"].sudo().browse(list(claimed)).exists()
        if len(lines) != len(claimed) or lines.order_id.company_id - self.company_id:
            raise UserError(self.env._("The refund returns lines Odoo does not know."))
        if request and request.pos_order_id:
            if not lines or lines.order_id != request.pos_order_id:
                raise UserError(
                    self.env._(
                        "This refund does not return lines of the sale that "
                        "Centrapay payment %(code)s paid. Refund it from that "
                        "sale: Orders, pick the order, Refund.",
                        code=request.short_code or request.centrapay_id,
                    )
                )
            worth = self._centrapay_refund_worth(request, lines, claimed)
            left = min(worth, request._centrapay_refundable())
        else:
            if not self.env.user.has_group("point_of_sale.group_pos_manager"):
                raise UserError(
                    self.env._(
                        "This Centrapay payment has no sale in Odoo, so a Point of "
                        "Sale manager decides on its refund: at the till, or in "
                        "Point of Sale > Centrapay > Payment Requests."
                    )
                )
            if not request:
                code = clean_text(data.get("short_code"), 32).upper()
                request = (
                    self.env["centrapay.payment.request"]
                    .sudo()
                    ._centrapay_adopt_by_short_code(self, code)
                )
            left = request._centrapay_refundable()
        if request.status != "paid" or request.refunded_by_void:
            raise UserError(
                self.env._(
                    "Only a paid Centrapay payment can be refunded through Centrapay."
                )
            )
        return {
            "request": request,
            "left": request.currency_id.round(left),
            "claimed": {str(line_id): qty for line_id, qty in claimed.items()},
            "order_uuid": order_uuid,
        }

    def _centrapay_refund_worth(self, request, lines, claimed):
        """What the returned quantities of ``lines`` are worth; UserError if over.

        A line returns at most what neither a synced refund order nor another
        POS refund not yet synced has returned.
        """
        held = {}
        for other in request.refund_ids.filtered(
            lambda r: (
                r.state in const.REFUND_HELD_STATES
                and not r.pos_order_id
                and r.refunded_lines_json
            )
        ):
            for line_id, qty in json.loads(other.refunded_lines_json).items():
                held[int(line_id)] = held.get(int(line_id), 0) + qty
        worth = 0.0
        for line in lines:
            qty = claimed[line.id]
            left = line.qty - line.refunded_qty - held.get(line.id, 0)
            if float_compare(qty, left, precision_digits=5) > 0:
                raise UserError(
                    self.env._(
                        "%(product)s: only %(left)s left to return on that sale.",
                        product=line.full_product_name or line.product_id.display_name,
                        left=max(left, 0),
                    )
                )
            if line.qty:
                worth += line.price_subtotal_incl / line.qty * qty
        return worth

    def _centrapay_parse_refunded_lines(self, value):
        """``{line id: qty}`` from the POS's ``refunded_lines``, or UserError."""
        if value is None:
            return {}
        problem = UserError(self.env._("The POS sent malformed refund lines."))
        if not isinstance(value, list) or len(value) > const.MAX_LINE_ITEMS:
            raise problem
        claimed = {}
        for entry in value:
            if not isinstance(entry, dict):
                raise problem
            line_id, qty = entry.get("id"), entry.get("qty")
            if (
                isinstance(line_id, bool)
                or not isinstance(line_id, int)
                or line_id <= 0
                or isinstance(qty, bool)
                or not isinstance(qty, int | float)
                or not math.isfinite(qty)
                or not 0 < qty <= const.MAX_REFUND_QTY
            ):
                raise problem
            claimed[line_id] = claimed.get(line_id, 0) + qty
        return claimed

    def _centrapay_refund_target(self, data):
        """The request a POS refund names, of this company (or an empty recordset).

        By ``centrapay_id`` (found through the refunded order), or by the short
        code of the receipt; a short code Odoo does not know yet is looked up
        at Centrapay by the caller, once allowed.
        """
        Request = self.env["centrapay.payment.request"].sudo()
        centrapay_id = data.get("centrapay_id")
        short_code = data.get("short_code")
        if isinstance(centrapay_id, str) and 0 < len(centrapay_id) <= 64:
            request = Request.search(
                [
                    ("centrapay_id", "=", centrapay_id),
                    ("company_id", "=", self.company_id.id),
                    ("payment_method_id.use_payment_terminal", "=", "centrapay"),
                ],
                limit=1,
            )
            if not request:
                raise UserError(self.env._("Unknown Centrapay payment request."))
            return request
        if not isinstance(short_code, str) or not (0 < len(short_code.strip()) <= 32):
            raise UserError(
                self.env._("Type or scan the Centrapay short code of the receipt.")
            )
        code = clean_text(short_code, 32).upper()
        return Request.search(
            [("short_code", "=", code), ("company_id", "=", self.company_id.id)],
            order="id desc",
            limit=1,
        )

    def _centrapay_pos_request(self, centrapay_id, session_id):
        """The request with that Centrapay id, made with this method in that session.

        A request is reachable only through the method, session and company
        it was made for. Raises UserError when there is none.
        """
        session = self._centrapay_check_cashier(session_id)
        if not isinstance(centrapay_id, str) or not (
            0 < len(centrapay_id) <= const.MAX_ID_LENGTH
        ):
            raise UserError(self.env._("Unknown Centrapay payment request."))
        request = (
            self.env["centrapay.payment.request"]
            .sudo()
            .search(
                [
                    ("centrapay_id", "=", centrapay_id),
                    ("payment_method_id", "=", self.id),
                    ("session_id", "=", session.id),
                    ("company_id", "=", self.company_id.id),
                ],
                limit=1,
            )
        )
        if not request:
            raise UserError(self.env._("Unknown Centrapay payment request."))
        return request

    def _centrapay_clean_create_data(self, data):
        """The create RPC's input, checked and bounded, or UserError."""
        payment_uuid = data.get("payment_uuid")
        if not isinstance(payment_uuid, str) or not (
            0 < len(payment_uuid) <= const.MAX_ID_LENGTH
        ):
            raise UserError(self.env._("The POS sent no valid payment line."))
        try:
            basket = parse_basket(
                data.get("line_items"), data.get("basket"), const.MAX_LINE_ITEMS
            )
        except ValueError as exc:
            raise UserError(self.env._("The POS sent malformed line items.")) from exc
        return {
            "amount": self._centrapay_parse_amount(data.get("amount")),
            "payment_uuid": payment_uuid,
            "order_uuid": clean_text(data.get("order_uuid"), const.MAX_ID_LENGTH),
            "order_name": clean_text(data.get("order_name"), const.MAX_ID_LENGTH),
            "device_id": clean_text(data.get("device_id"), const.MAX_ID_LENGTH),
            "line_items": basket,
            "patron_not_present": data.get("patron_not_present") is True,
            "barcode": self._centrapay_clean_barcode(data.get("barcode")),
        }

    def _centrapay_clean_barcode(self, value):
        """The patron's scanned or typed code as digits, False without one.

        Checked before any call (digits, at most 16, Luhn on 16): UserError
        with the table's words otherwise.
        """
        Request = self.env["centrapay.payment.request"]
        if value is None or value is False or value == "":
            return False
        if not isinstance(value, str) or len(value) > const.MAX_ID_LENGTH:
            value = "-"  # not digits: refused as malformed, whatever it was
        return Request._centrapay_normalize_barcode(value)

    def _centrapay_parse_amount(self, value):
        """The amount as an exact Decimal in the method's currency, or UserError."""
        currency = self._centrapay_currency()
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise UserError(
                self.env._("The Centrapay amount is missing or not a number.")
            )
        try:
            number = float(value)
        except (ValueError, OverflowError) as exc:
            raise UserError(
                self.env._("The Centrapay amount is not a number.")
            ) from exc
        if not math.isfinite(number):
            raise UserError(self.env._("The Centrapay amount is not a number."))
        if number <= 0:
            raise UserError(
                self.env._(
                    "Centrapay only takes positive amounts here. Refund a Centrapay "
                    "payment from its original order."
                )
            )
        if number > const.MAX_AMOUNT:
            raise UserError(
                self.env._(
                    "Centrapay takes at most %(max)s in one payment.",
                    max=const.MAX_AMOUNT,
                )
            )
        return Decimal(float_repr(number, currency.decimal_places))

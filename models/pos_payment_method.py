import logging
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import float_repr

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay.client import CentrapayClient
from ..centrapay.webhook import WebhookVerifier

_logger = logging.getLogger(__name__)

# One verifier per (JWKS URL, audience), so the JWKS cache outlives a request.
_VERIFIERS = {}

# Configuration that the POS may not change while a session is open, except the
# credentials, which must be rotatable at any time.
_ROTATABLE_FIELDS = {"centrapay_api_key"}


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
        "whose create response was lost, instead of charging twice.",
        copy=False,
    )
    centrapay_environment = fields.Selection(
        [
            ("sandbox", "Local sandbox"),
            ("production", "Production"),
            ("custom", "Custom URL"),
        ],
        string="Centrapay Environment",
        default="sandbox",
    )
    centrapay_base_url = fields.Char(
        string="Centrapay API URL",
        help="The API base URL for the sandbox or a custom environment.",
        default=const.DEFAULT_SANDBOX_URL,
    )
    centrapay_jwks_url = fields.Char(
        string="Webhook Keys URL",
        help="Where Centrapay publishes the keys that sign its webhooks (JWKS). "
        "Empty means the environment's default.",
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
    centrapay_webhook_url = fields.Char(
        string="Webhook URL",
        compute="_compute_centrapay_webhook_url",
        help="Give this URL to Centrapay support to subscribe the webhooks.",
    )

    def _get_payment_terminal_selection(self):
        return super()._get_payment_terminal_selection() + [("centrapay", "Centrapay")]

    @api.model
    def _load_pos_data_fields(self, config_id):
        return super()._load_pos_data_fields(config_id) + ["centrapay_expiry_seconds"]

    def _is_write_forbidden(self, fields):
        return super()._is_write_forbidden(fields - _ROTATABLE_FIELDS)

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

    # --- Configuration helpers ----------------------------------------------------

    def _centrapay_currency(self):
        self.ensure_one()
        return self.journal_id.currency_id or self.company_id.currency_id

    def _centrapay_api_url(self):
        self.ensure_one()
        if self.centrapay_environment == "production":
            return const.PRODUCTION_API_URL
        return (self.centrapay_base_url or "").rstrip("/")

    def _centrapay_client(self):
        """A client for this method's account. Raises UserError when unconfigured."""
        self.ensure_one()
        api_key = self.sudo().centrapay_api_key
        if self.use_payment_terminal != "centrapay" or not api_key:
            raise UserError(
                self.env._(
                    "Payment method %s is not configured for Centrapay.", self.name
                )
            )
        return CentrapayClient(self._centrapay_api_url(), api_key, logger=_logger)

    def _centrapay_rate_key(self):
        """The account whose rate budget a call spends (one API key, one account)."""
        self.ensure_one()
        return self.env["centrapay.rate.limit"]._key_for(self.sudo().centrapay_api_key)

    def _centrapay_verifier(self):
        self.ensure_one()
        jwks_url = self.centrapay_jwks_url or (
            const.PRODUCTION_JWKS_URL
            if self.centrapay_environment == "production"
            else f"{self._centrapay_api_url()}/api/.well-known/jwks.json"
        )
        key = (jwks_url, self.centrapay_webhook_url)
        if key not in _VERIFIERS:
            _VERIFIERS[key] = WebhookVerifier(jwks_url, self.centrapay_webhook_url)
        return _VERIFIERS[key]

    def _centrapay_check_pos_user(self):
        if not self.env.su and not self.env.user.has_group(
            "point_of_sale.group_pos_user"
        ):
            raise AccessError(
                self.env._("Only Point of Sale users can take Centrapay payments.")
            )

    def action_centrapay_test_connection(self):
        """Check the URL and key with one harmless authenticated read."""
        self.ensure_one()
        client = self._centrapay_client()
        try:
            if self.centrapay_merchant_id:
                client.list_payment_activities(self.centrapay_merchant_id, limit=1)
            else:
                # An unknown id answers 403 with a valid key and 401 without one.
                try:
                    client.get_payment_request("odoo-connection-test")
                except cp_errors.CentrapayForbidden as exc:
                    if not exc.is_generic:
                        raise
        except cp_errors.CentrapayError as exc:
            raise UserError(
                self.env["centrapay.payment.request"]._centrapay_error_message(exc)
            ) from exc
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("Centrapay accepted the API key."),
                "sticky": False,
            },
        }

    # --- RPC called by the POS ----------------------------------------------------

    def centrapay_create_request(self, data):
        """Create (or reuse) the Payment Request of a POS payment line.

        ``data``: ``amount`` (float, in the method's currency), ``payment_uuid``,
        ``order_uuid``, ``order_name``, ``session_id``, ``device_id`` and
        optional ``line_items``. Returns the request's public state, or
        ``{"error": message}``.
        """
        self.ensure_one()
        self._centrapay_check_pos_user()
        Request = self.env["centrapay.payment.request"].sudo()
        try:
            amount = self._centrapay_parse_amount(data.get("amount"))
            session = self.env["pos.session"].browse(int(data.get("session_id") or 0))
            if (
                not session.exists()
                or session.state != "opened"
                or self not in session.config_id.payment_method_ids
            ):
                raise UserError(
                    self.env._(
                        "This payment method is not part of an open POS session."
                    )
                )
            request = Request._centrapay_create_for_line(self, session, amount, data)
        except (UserError, ValidationError) as exc:
            return {"error": exc.args[0]}
        return request._centrapay_public_state()

    def centrapay_get_status(self, centrapay_id):
        """The request's state, re-read from Centrapay when the last read is stale."""
        request = self._centrapay_pos_request(centrapay_id)
        if not request:
            return {"error": self.env._("Unknown Centrapay payment request.")}
        request._centrapay_refresh_if_stale()
        return request._centrapay_public_state()

    def centrapay_cancel_request(self, centrapay_id):
        """Void the request (there is no cancel endpoint) and return its final state."""
        request = self._centrapay_pos_request(centrapay_id)
        if not request:
            return {"error": self.env._("Unknown Centrapay payment request.")}
        request._centrapay_void(reason="cashier")
        return request._centrapay_public_state()

    def _centrapay_pos_request(self, centrapay_id):
        """The request of this method with that Centrapay id, for a POS user."""
        self.ensure_one()
        self._centrapay_check_pos_user()
        return (
            self.env["centrapay.payment.request"]
            .sudo()
            .search(
                [
                    ("centrapay_id", "=", str(centrapay_id or "")),
                    ("payment_method_id", "=", self.id),
                ],
                limit=1,
            )
        )

    def _centrapay_parse_amount(self, value):
        """The amount as an exact Decimal in the method's currency, or UserError."""
        currency = self._centrapay_currency()
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise UserError(
                self.env._("The Centrapay amount is missing or not a number.")
            )
        try:
            amount = Decimal(float_repr(float(value), currency.decimal_places))
        except (ValueError, ArithmeticError) as exc:
            raise UserError(
                self.env._("The Centrapay amount is not a number.")
            ) from exc
        if amount <= 0:
            raise UserError(
                self.env._(
                    "Centrapay only takes positive amounts here. Refund a Centrapay "
                    "payment from its original order."
                )
            )
        return amount

    # --- Demo ---------------------------------------------------------------------

    @api.model
    def _centrapay_configure_demo(self, credentials):
        """Point the demo Centrapay method at a running sandbox (tools/dev.py demo)."""
        method = self.env.ref("pos_centrapay.pos_payment_method_centrapay_demo")
        vals = {
            "centrapay_environment": "sandbox",
            "centrapay_base_url": credentials["base_url"],
            "centrapay_api_key": credentials["api_key"],
            "centrapay_merchant_config_id": credentials["merchant_config_id"],
            "centrapay_merchant_id": credentials["merchant_id"],
            "centrapay_merchant_account_id": credentials["merchant_account_id"],
            "centrapay_webhook_enabled": True,
        }
        # Only what changed: an open POS session forbids other writes, and a
        # restarted sandbox keeps its credentials.
        method.write({k: v for k, v in vals.items() if method.sudo()[k] != v})
        return method

"""The barcode flow (doc §6.2 Quick Pay, §6.12 E17, §13): the cashier scans or
types the patron's code instead of showing a QR code (CP-FLOW-4 to CP-FLOW-6).

The code is checked (digits, Luhn) and decoded (E17) on the server before
anything is stored; the request keeps its provider and the code's last four
digits, never the code itself, and a keyed fingerprint so that the same code
scanned again reuses its open request.
"""

import hashlib
import hmac

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import error_messages
from ..centrapay import errors as cp_errors
from ..centrapay.barcode import normalize_scanned_code

# What E17 may answer that this till takes (doc §6.12): others are refused.
BARCODE_PROVIDERS = ("centrapay", "farmlands")


class CentrapayPaymentRequest(models.Model):
    _inherit = "centrapay.payment.request"

    flow = fields.Selection(
        [("qr", "QR code"), ("barcode", "Customer's barcode")],
        default="qr",
        required=True,
        readonly=True,
        help="QR code: the customer scans the till's code. Customer's barcode: "
        "the cashier scanned or typed the customer's code (app barcode or "
        "Farmlands card).",
    )
    barcode_provider = fields.Selection(
        [("centrapay", "Centrapay app"), ("farmlands", "Farmlands card")],
        string="Code Of",
        readonly=True,
    )
    barcode_last4 = fields.Char(
        "Code (last digits)", readonly=True, help="The last 4 digits of the code."
    )
    barcode_fingerprint = fields.Char(readonly=True, copy=False)

    # --- Checking a scanned code ---------------------------------------------------

    @api.model
    def _centrapay_normalize_barcode(self, value):
        """The scanned or typed code, as digits, or UserError (before any call)."""
        try:
            return normalize_scanned_code(value)
        except cp_errors.CentrapayValidationError as exc:
            raise UserError(self._centrapay_error_message(exc)) from exc

    @api.model
    def _centrapay_barcode_fingerprint(self, code):
        """A keyed hash of the code: the same code is recognised, never stored."""
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        return hmac.new(
            (secret or "").encode(), code.encode(), hashlib.sha256
        ).hexdigest()

    @api.model
    def _centrapay_decode_barcode(self, method, code):
        """What Centrapay says the code is (E17), as the request's values.

        Raises UserError with the table's words: an unknown code, a failed
        check digit, a provider this till does not take.
        """
        client = method._centrapay_client("cashier")
        try:
            decoded = client.decode_scanned_code(
                code, method.centrapay_merchant_config_id
            )
        except cp_errors.CentrapayError as exc:
            raise UserError(self._centrapay_error_message(exc)) from exc
        provider = decoded.get("provider")
        if provider not in BARCODE_PROVIDERS:
            raise UserError(
                self.env._(
                    error_messages.ERROR_MESSAGES["barcode.unsupported_provider"]
                )
                % {"provider": str(decoded.get("displayName") or provider)[:40]}
            )
        return {
            "flow": "barcode",
            "barcode_provider": provider,
            "barcode_last4": code[-4:],
            "barcode_fingerprint": self._centrapay_barcode_fingerprint(code),
        }

    def _centrapay_matches_scan(self, scanned):
        """Whether this open request may serve a line sent with ``scanned``.

        Sent without a code (a reload, a retry), any flow is resumed; with a
        code, only a request made with that same code.
        """
        self.ensure_one()
        if not scanned:
            return True
        return (
            self.flow == "barcode"
            and self.barcode_fingerprint == scanned["barcode_fingerprint"]
        )

    def _centrapay_refund_config_id(self):
        """The merchant config a refund names: needed for Farmlands (§15.19)."""
        self.ensure_one()
        farmlands = self.barcode_provider == "farmlands" or "farmlands." in (
            self.asset_types or ""
        )
        if not farmlands:
            return None
        return (
            self.payment_method_id.centrapay_merchant_config_id
            or self.merchant_config_id
            or None
        )

    # --- What the POS sees -------------------------------------------------------

    def _centrapay_public_state(self):
        state = super()._centrapay_public_state()
        state.update(
            flow=self.flow,
            barcode_provider=self.barcode_provider or False,
            barcode_last4=self.barcode_last4 or False,
        )
        if (
            self.flow == "barcode"
            and self.status == "cancelled"
            and self.cancellation_reason
        ):
            state["cancellation_message"] = error_messages.centrapay_code_message(
                self.env, self.cancellation_reason
            )
        return state

"""How a Centrapay payment method looks to the cashier (CP-CORE-3, CP-POS-12).

Its button shows Centrapay's mark and the label of centrapay/branding.py; the
merchant's accepted asset types are learned from each created request's
``paymentOptions``. The form shows the device and terminal of its last request.
"""

import base64
from pathlib import Path

from odoo import api, fields, models

from ..centrapay.branding import cashier_label

MARK_PNG = (
    Path(__file__).resolve().parent.parent / "static/src/img/centrapay_mark_orange.png"
)


def centrapay_mark_b64():
    return base64.b64encode(MARK_PNG.read_bytes())


class PosPaymentMethod(models.Model):
    _inherit = "pos.payment.method"

    centrapay_asset_types = fields.Char(
        string="Accepted Assets",
        readonly=True,
        copy=False,
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

    @api.model
    def _load_pos_data_fields(self, config_id):
        return super()._load_pos_data_fields(config_id) + ["centrapay_label"]

    def _is_write_forbidden(self, fields):
        # Learned from Centrapay while sessions are open: not a configuration.
        return super()._is_write_forbidden(fields - {"centrapay_asset_types"})

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

    def _centrapay_set_mark(self):
        """Centrapay's mark in place of the generic terminal icon, unless set."""
        plain = self.filtered(
            lambda m: m.use_payment_terminal == "centrapay" and not m.image
        )
        if plain:
            plain.write({"image": centrapay_mark_b64()})

    def _centrapay_learn_asset_types(self, asset_types):
        """Keep the accepted asset types Centrapay listed, when they changed."""
        value = ",".join(sorted(set(asset_types)))
        for method in self:
            if value and method.centrapay_asset_types != value:
                method.sudo().centrapay_asset_types = value

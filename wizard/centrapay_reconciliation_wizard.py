from odoo import api, fields, models
from odoo.exceptions import UserError


class CentrapayReconciliationWizard(models.TransientModel):
    """Managers: explain items with a note, or attach an orphan to its POS order."""

    _name = "centrapay.reconciliation.wizard"
    _description = "Centrapay Reconciliation Action"

    mode = fields.Selection(
        [("explain", "Explain"), ("attach", "Attach")], required=True
    )
    item_ids = fields.Many2many(
        "centrapay.reconciliation.item",
        "centrapay_reconciliation_wizard_item_rel",
        "wizard_id",
        "item_id",
        readonly=True,
    )
    note = fields.Text()
    pos_order_id = fields.Many2one("pos.order", "POS Order")
    company_id = fields.Many2one("res.company", compute="_compute_company_id")

    @api.depends("item_ids")
    def _compute_company_id(self):
        for wizard in self:
            wizard.company_id = wizard.item_ids.company_id[:1]

    def action_confirm(self):
        self.ensure_one()
        self.item_ids.check_access("write")
        if self.mode == "explain":
            if not (self.note or "").strip():
                raise UserError(self.env._("Say why these items are explained."))
            self.item_ids.sudo().write({"explained": True, "explanation": self.note})
            self.item_ids._centrapay_log("explain", self.note)
            return {"type": "ir.actions.act_window_close"}
        return self._centrapay_attach()

    def _centrapay_attach(self):
        """Attach one orphan to the POS order it belongs to, as a manager.

        Only an orphan (paid at Centrapay, no POS payment), freshly compared,
        to an order of its company that no Centrapay payment pays yet. When
        the orphan's amount is not what the order has left to pay, the
        difference is written in the explanation and the log.
        """
        if len(self.item_ids) != 1:
            raise UserError(self.env._("Attach one Centrapay item at a time."))
        item = self.item_ids
        # Compared again: the list may be older than the last payment or refund.
        item.sudo()._centrapay_reconcile(item.request_id.sudo())
        request = item.request_id.sudo()
        if item.kind != "orphan" or not request or request.pos_payment_id:
            raise UserError(
                self.env._(
                    "Only a Centrapay orphan (paid at Centrapay, with no POS "
                    "payment) can be attached to an order."
                )
            )
        order = self.pos_order_id
        if not order or order.company_id != item.company_id:
            raise UserError(self.env._("Pick a POS order of the same company."))
        order.check_access("read")
        order_sudo = order.sudo()
        paid_by_centrapay = order_sudo.payment_ids.filtered(
            lambda p: p.payment_method_id.use_payment_terminal == "centrapay"
        ) or self.env["centrapay.payment.request"].sudo().search_count(
            [("pos_order_id", "=", order.id), ("id", "!=", request.id)], limit=1
        )
        if paid_by_centrapay:
            raise UserError(
                self.env._(
                    "%(order)s is already paid by Centrapay: attach the orphan to "
                    "the order it paid, or refund it.",
                    order=order.display_name,
                )
            )
        currency = item.currency_id or item.company_id.currency_id
        due = order_sudo.amount_total - order_sudo.amount_paid
        difference = item.centrapay_amount - due
        note = self.note or self.env._("Attached to %s", order.display_name)
        if currency.compare_amounts(difference, 0):
            note = self.env._(
                "%(note)s\nCentrapay took %(paid)s; %(order)s had %(due)s left to "
                "pay: a difference of %(difference)s.",
                note=note,
                paid=currency.format(item.centrapay_amount),
                order=order.display_name,
                due=currency.format(due),
                difference=currency.format(difference),
            )
        request.write({"pos_order_id": order.id})
        item.sudo().write(
            {
                "explained": True,
                "explanation": note,
                "pos_order_id": order.id,
                "session_id": order_sudo.session_id.id,
            }
        )
        item._centrapay_log("attach", note)
        return {"type": "ir.actions.act_window_close"}

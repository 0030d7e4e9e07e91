from odoo import api, fields, models
from odoo.exceptions import UserError


class CentrapayReconciliationWizard(models.TransientModel):
    """Managers: explain items with a note, or attach an orphan to its POS order."""

    _name = "centrapay.reconciliation.wizard"
    _description = "Centrapay Reconciliation Action"

    mode = fields.Selection(
        [("explain", "Explain"), ("attach", "Attach"), ("refund", "Refund")],
        required=True,
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
    summary = fields.Text(compute="_compute_summary")

    @api.depends("item_ids")
    def _compute_company_id(self):
        for wizard in self:
            wizard.company_id = wizard.item_ids.company_id[:1]

    @api.depends("mode", "item_ids")
    def _compute_summary(self):
        for wizard in self:
            wizard.summary = wizard._centrapay_summary()

    def _centrapay_summary(self):
        """What the manager is about to do, with the amounts and codes."""
        items = self.item_ids
        if self.mode == "refund" and len(items) == 1:
            request = items.request_id.sudo()
            left = request._centrapay_refundable() if request else 0.0
            return self.env._(
                "Refund %(amount)s to the customer who paid %(code)s, in full, "
                "through Centrapay? Odoo has no POS payment for it. The refund "
                "cannot be undone.",
                amount=items.currency_id.format(left),
                code=items.short_code or items.centrapay_request_id,
            )
        lines = [
            self.env._(
                "%(code)s: Odoo %(odoo)s, Centrapay %(centrapay)s",
                code=item.short_code or item.centrapay_request_id,
                odoo=item.currency_id.format(item.odoo_amount),
                centrapay=item.currency_id.format(item.centrapay_amount),
            )
            for item in items
        ]
        return "\n".join(lines)

    def action_confirm(self):
        self.ensure_one()
        self.item_ids.check_access("write")
        if self.mode == "refund":
            return self.item_ids.ensure_one().action_centrapay_refund_orphan()
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

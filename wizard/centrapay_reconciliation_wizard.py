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
        item = self.item_ids.ensure_one()
        order = self.pos_order_id
        if not order or order.company_id != item.company_id:
            raise UserError(self.env._("Pick a POS order of the same company."))
        order.check_access("read")
        note = self.note or self.env._("Attached to %s", order.display_name)
        item.request_id.sudo().write({"pos_order_id": order.id})
        item.sudo().write(
            {
                "explained": True,
                "explanation": note,
                "pos_order_id": order.id,
                "session_id": order.session_id.id,
            }
        )
        item._centrapay_log("attach", note)
        return {"type": "ir.actions.act_window_close"}

from odoo import fields, models


class CentrapayReconciliationAction(models.Model):
    """What a manager did about a reconciliation item: who, when and why."""

    _name = "centrapay.reconciliation.action"
    _description = "Centrapay Reconciliation Action"
    _order = "id desc"

    item_id = fields.Many2one(
        "centrapay.reconciliation.item", required=True, ondelete="cascade", index=True
    )
    action = fields.Selection(
        [
            ("refund", "Refunded the orphan"),
            ("attach", "Attached to a POS order"),
            ("explain", "Marked explained"),
            ("close", "Closed the session anyway"),
        ],
        required=True,
        readonly=True,
    )
    note = fields.Text(readonly=True)
    user_id = fields.Many2one(
        "res.users", readonly=True, default=lambda self: self.env.user
    )
    company_id = fields.Many2one(related="item_id.company_id", store=True)

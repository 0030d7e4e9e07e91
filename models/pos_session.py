from odoo import fields, models
from odoo.exceptions import AccessError, UserError


class PosSession(models.Model):
    _inherit = "pos.session"

    centrapay_close_forced_by = fields.Many2one(
        "res.users", "Closed despite Centrapay checks by", readonly=True, copy=False
    )
    centrapay_close_forced_at = fields.Datetime(readonly=True, copy=False)

    def _centrapay_close_problems(self):
        """Lines that stop the close: pending requests and unexplained mismatches."""
        self.ensure_one()
        if self.centrapay_close_forced_by:
            return []
        Item = self.env["centrapay.reconciliation.item"].sudo()
        items = Item._centrapay_reconcile_sessions(self).filtered(
            lambda i: i.state == "open" and i.company_id == self.company_id
        )
        kinds = dict(Item._fields["kind"].selection)
        return [
            self.env._(
                "%(code)s: %(kind)s (Odoo %(odoo)s, Centrapay %(centrapay)s)",
                code=item.short_code or item.centrapay_request_id,
                kind=kinds[item.kind],
                odoo=item.currency_id.format(item.odoo_amount),
                centrapay=item.currency_id.format(item.centrapay_amount),
            )
            for item in items
        ]

    def _centrapay_close_message(self, problems):
        return self.env._(
            "Centrapay payments of this session need a look before it closes:\n%s\n"
            "A manager reconciles them in Point of Sale > Reporting > Centrapay "
            "Reconciliation, or closes the session anyway from its form.",
            "\n".join(problems),
        )

    def _cannot_close_session(self, bank_payment_method_diffs=None):
        result = super()._cannot_close_session(bank_payment_method_diffs)
        if result:
            return result
        problems = self._centrapay_close_problems()
        if problems:
            return {
                "successful": False,
                "type": "alert",
                "title": self.env._("Centrapay payments to check"),
                "message": self._centrapay_close_message(problems),
                "redirect": False,
            }
        return result

    def action_pos_session_closing_control(
        self,
        balancing_account=False,
        amount_to_balance=0,
        bank_payment_method_diffs=None,
    ):
        for session in self:
            problems = session._centrapay_close_problems()
            if problems:
                raise UserError(session._centrapay_close_message(problems))
        return super().action_pos_session_closing_control(
            balancing_account, amount_to_balance, bank_payment_method_diffs
        )

    def action_centrapay_reconciliation(self):
        """This session's Centrapay reconciliation (managers)."""
        self.ensure_one()
        return self.env["centrapay.reconciliation.item"].action_centrapay_open(self.ids)

    def action_centrapay_close_anyway(self):
        """A manager closes despite the Centrapay checks; that is recorded."""
        self.ensure_one()
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise AccessError(
                self.env._("Only a Point of Sale manager can close it anyway.")
            )
        self.check_access("write")
        problems = self._centrapay_close_problems()
        self.sudo().write(
            {
                "centrapay_close_forced_by": self.env.user.id,
                "centrapay_close_forced_at": fields.Datetime.now(),
            }
        )
        items = (
            self.env["centrapay.reconciliation.item"]
            .sudo()
            .search([("session_id", "=", self.id), ("state", "=", "open")])
        )
        items._centrapay_log("close", "\n".join(problems))
        return self.action_pos_session_closing_control()

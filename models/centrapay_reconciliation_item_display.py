"""How a reconciliation item reads to a manager: its title, its session's
label in groups, the titles of its dialogs, and a refund that names its amount
and code before it goes out. Display only: the comparison lives in
centrapay_reconciliation_item.py.
"""

from odoo import api, fields, models
from odoo.tools import LazyTranslate

_lt = LazyTranslate(__name__)

WIZARD_TITLES = {
    "explain": _lt("Explain Centrapay items"),
    "attach": _lt("Attach a Centrapay payment to a POS order"),
    "refund": _lt("Refund a Centrapay payment"),
}


class CentrapayReconciliationItem(models.Model):
    _inherit = "centrapay.reconciliation.item"

    session_label = fields.Char(
        "Session Name",
        compute="_compute_session_label",
        store=True,
        help="The POS session, or why there is none, to group the items by.",
    )

    @api.depends("session_id.name")
    def _compute_session_label(self):
        for item in self:
            item.session_label = item.session_id.name or self.env._(
                "No POS session (paid at Centrapay only)"
            )

    @api.depends("short_code", "kind", "centrapay_request_id")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for item in self:
            code = item.short_code or item.centrapay_request_id
            kind = kinds.get(item.kind)
            item.display_name = f"{code} · {kind}" if kind else code

    def _centrapay_wizard(self, mode):
        action = super()._centrapay_wizard(mode)
        action["name"] = self.env._(WIZARD_TITLES[mode])
        return action

    def action_centrapay_refund_orphan_ask(self):
        """Ask before refunding an orphan, naming its amount and short code."""
        self.ensure_one()
        self.check_access("write")
        return self._centrapay_wizard("refund")

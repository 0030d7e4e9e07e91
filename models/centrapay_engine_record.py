from odoo import models
from odoo.exceptions import AccessError


class CentrapayEngineRecord(models.AbstractModel):
    """Records that only Odoo's Centrapay code writes: requests, refunds, items.

    Their status, state and explanations move only through the state machines
    and the recorded actions, which write as superuser after checking who asks.
    A user's own ``write`` (RPC, import, a form) is refused, whatever the group.
    """

    _name = "centrapay.engine.record"
    _description = "Centrapay record written only by Odoo"

    def write(self, vals):
        if not self.env.su:
            raise AccessError(
                self.env._(
                    "%(model)s records change only through their Centrapay "
                    "actions (refresh, void, refund, explain, attach).",
                    model=self._description,
                )
            )
        return super().write(vals)

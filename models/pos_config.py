from odoo import models

from .centrapay_payment_request import clean_text

# doc §6.1: the length of terminalId is undocumented; a POS name rarely needs more.
TERMINAL_ID_MAX = 64


class PosConfig(models.Model):
    _inherit = "pos.config"

    def _centrapay_terminal_id(self):
        """The ``terminalId`` of this POS's requests: its name, bounded (CP-CORE-11)."""
        self.ensure_one()
        return clean_text(self.name, TERMINAL_ID_MAX) or f"odoo-pos-{self.id}"

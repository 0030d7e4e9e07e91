"""Payment conditions (doc §10.2; CP-EXT-7 to CP-EXT-9): Centrapay may ask the
cashier to accept or decline a condition (a photo-ID check, say) before the
payment goes through.

The request keeps the conditions of its last read, word for word; a change is
pushed to the POS, which shows those awaiting the merchant with Accept and
Decline, and those awaiting the patron as information. An answer (E11, E12) is
followed at once by a read of the request.
"""

import json
import logging

from odoo import api, fields, models

from ..centrapay import errors as cp_errors
from ..error_messages import ERROR_MESSAGES

_logger = logging.getLogger(__name__)


class CentrapayPaymentRequest(models.Model):
    _inherit = "centrapay.payment.request"

    conditions_enabled = fields.Boolean(
        "Conditions Enabled",
        readonly=True,
        help="Created with conditionsEnabled: Centrapay may ask the till to "
        "accept or decline a condition.",
    )
    conditions_json = fields.Text(
        "Conditions",
        readonly=True,
        help="The conditions of the last read: id, name, message and status.",
    )

    def _centrapay_conditions(self):
        """The conditions of the last read, as the mapping gives them."""
        self.ensure_one()
        return json.loads(self.conditions_json or "[]")

    @api.model
    def _centrapay_extension_create_values(self, method, amount, data):
        values = super()._centrapay_extension_create_values(method, amount, data)
        if method.centrapay_conditions_enabled:
            values["conditions_enabled"] = True
        return values

    def _centrapay_extension_create_fields(self):
        fields_ = super()._centrapay_extension_create_fields()
        if self.conditions_enabled:
            fields_["conditions_enabled"] = True
        return fields_

    def _centrapay_extension_values(self, got):
        values = super()._centrapay_extension_values(got)
        if "conditions" in got:
            values["conditions_json"] = (
                json.dumps(got["conditions"]) if got["conditions"] else False
            )
        return values

    def _centrapay_apply(self, payment_request):
        before = (self.status, self.conditions_json or False)
        res = super()._centrapay_apply(payment_request)
        if before[0] == self.status and before[1] != (self.conditions_json or False):
            # No status change to push, yet the till has a condition to show.
            self._centrapay_notify_pos()
        return res

    def _centrapay_answer_condition(self, condition_id, accept):
        """Accept (E11) or decline (E12) a condition awaiting the merchant, then
        read the request again at once (doc §10.2: an answer may take the
        payment, cancel the request, or add or void conditions).

        Returns None, or the cashier's words when the answer was refused; what
        Centrapay said is kept either way (no exception undoes the read).
        """
        self.ensure_one()
        self._centrapay_lock(wait=True)
        awaiting = {
            c["id"]
            for c in self._centrapay_conditions()
            if c["status"] == "awaiting-merchant"
        }
        if self.status != "new" or condition_id not in awaiting:
            return self.env._(ERROR_MESSAGES["condition.not_awaiting"])
        client = self.payment_method_id._centrapay_client(
            "cashier", session=self.session_id
        )
        answer = "accept" if accept else "decline"
        _logger.info(
            "Centrapay request %s: %s condition %s", self.id, answer, condition_id
        )
        refused = None
        try:
            if accept:
                client.accept_payment_condition(self.centrapay_id, condition_id)
            else:
                client.decline_payment_condition(self.centrapay_id, condition_id)
        except cp_errors.CentrapayError as exc:
            # Read anyway: the answer may have gone through (a lost answer,
            # CONDITION_ALREADY_SET), and the read says what holds now.
            unknown = isinstance(exc, cp_errors.CentrapayUnknownOutcome)
            self._centrapay_note_error(exc, unknown=unknown)
            refused = None if unknown else self._centrapay_error_message(exc)
        try:
            self._centrapay_refresh(interactive=True)
        except cp_errors.CentrapayBudgetExhausted as exc:
            # The engine reads it soon; the till polls meanwhile.
            self._centrapay_note_error(exc)
            self.env["centrapay.engine"]._centrapay_schedule(self, delay=0)
        return refused

    def _centrapay_public_state(self):
        state = super()._centrapay_public_state()
        conditions = self._centrapay_conditions() if self.status == "new" else []
        state.update(
            conditions_enabled=self.conditions_enabled,
            awaiting_merchant=[
                c for c in conditions if c["status"] == "awaiting-merchant"
            ],
            awaiting_patron=[c for c in conditions if c["status"] == "awaiting-patron"],
        )
        return state

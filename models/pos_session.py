from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import const
from ..centrapay import errors as cp_errors

# The context key by which "Close despite Centrapay" carries a manager's decision
# through Odoo's own close (and its Force Close wizard, which keeps the context).
# It counts only for a POS manager, and is recorded when the close goes through.
CLOSE_DESPITE = "centrapay_close_despite"


class PosSession(models.Model):
    _inherit = "pos.session"

    centrapay_close_forced_by = fields.Many2one(
        "res.users", "Closed despite Centrapay checks by", readonly=True, copy=False
    )
    centrapay_close_forced_at = fields.Datetime(
        "Closed despite Centrapay checks on", readonly=True, copy=False
    )
    centrapay_close_forced_items = fields.Text(
        "Centrapay items left open at the close", readonly=True, copy=False
    )
    centrapay_close_blocked = fields.Boolean(
        compute="_compute_centrapay_close_blocked",
        help="Centrapay payments of this session need a look before it closes.",
    )

    def _compute_centrapay_close_blocked(self):
        for session in self:
            session.centrapay_close_blocked = session.state in (
                "opened",
                "closing_control",
            ) and bool(session._centrapay_close_problems())

    # --- The close guard: every close passes here ----------------------------------

    def _centrapay_close_problems(self, refresh=False):
        """Lines that stop the close: requests still payable, unexplained mismatches.

        ``refresh``: first read from Centrapay the session's waiting requests
        whose expiry has passed, so that what stops the close is their real state.
        Writes nothing else.
        """
        self.ensure_one()
        if self.centrapay_close_forced_by:
            return []
        Item = self.env["centrapay.reconciliation.item"].sudo()
        requests = Item._centrapay_session_requests(self).filtered(
            lambda r: r.company_id == self.company_id
        )
        if refresh:
            self._centrapay_refresh_expired(requests)
        kinds = dict(Item._fields["kind"].selection)
        lines = []
        for request, values in Item._centrapay_open_problems(requests):
            code = request.short_code or request.centrapay_id or request.external_ref
            if values["kind"] == "pending":
                lines.append(
                    self.env._(
                        "%(code)s: waiting for a payment of %(amount)s",
                        code=code,
                        amount=request.currency_id.format(request.amount),
                    )
                )
                continue
            currency = request.currency_id or self.currency_id
            lines.append(
                self.env._(
                    "%(code)s: %(kind)s (Odoo %(odoo)s, Centrapay %(centrapay)s)",
                    code=code,
                    kind=kinds[values["kind"]],
                    odoo=currency.format(values["odoo_amount"]),
                    centrapay=currency.format(values["centrapay_amount"]),
                )
            )
        return lines

    def _centrapay_refresh_expired(self, requests):
        """Read waiting requests whose expiry has passed (one interactive read each)."""
        now = fields.Datetime.now()
        grace = timedelta(seconds=const.POS_TIMEOUT_GRACE_SECONDS)
        for request in requests.filtered(
            lambda r: (
                r.status in const.PENDING_STATUSES
                and r.centrapay_id
                and r.expires_at
                and r.expires_at + grace < now
            )
        ):
            if request._centrapay_lock(wait=False):
                try:
                    request._centrapay_refresh(interactive=True)
                except cp_errors.CentrapayBudgetExhausted as exc:
                    # It stays waiting, and the close stays refused: safe.
                    request._centrapay_note_error(exc)

    def _centrapay_close_message(self, problems):
        return self.env._(
            "Centrapay payments of this session need a look before it closes:\n%s\n"
            "A manager reconciles them in Point of Sale > Reporting > Centrapay "
            "Reconciliation, or closes the session anyway from its form "
            "(Close despite Centrapay).",
            "\n".join(problems),
        )

    def _centrapay_check_close(self, refresh=False):
        """Refuse the close (UserError) while Centrapay payments need a look.

        A POS manager's "Close despite Centrapay" (``CLOSE_DESPITE`` in the
        context) lets it through, and is recorded: who, when, which items.
        """
        for session in self:
            problems = session._centrapay_close_problems(refresh=refresh)
            if not problems:
                continue
            if self.env.context.get(CLOSE_DESPITE) and self.env.user.has_group(
                "point_of_sale.group_pos_manager"
            ):
                session._centrapay_record_close_despite(problems)
                continue
            raise UserError(session._centrapay_close_message(problems))

    def _centrapay_record_close_despite(self, problems):
        self.ensure_one()
        self.check_access("write")
        Item = self.env["centrapay.reconciliation.item"].sudo()
        items = Item._centrapay_reconcile_sessions(self).filtered(
            lambda i: i.state == "open"
        )
        self.sudo().write(
            {
                "centrapay_close_forced_by": self.env.user.id,
                "centrapay_close_forced_at": fields.Datetime.now(),
                "centrapay_close_forced_items": "\n".join(problems),
            }
        )
        items._centrapay_log("close", "\n".join(problems))

    @api.model
    def _centrapay_close_refusal(self, problems):
        """What the till's close shows when Centrapay stops it."""
        return {
            "successful": False,
            "type": "alert",
            "centrapay": True,
            "title": self.env._("Centrapay payments to check"),
            "message": self._centrapay_close_message(problems),
            "redirect": False,
        }

    def _cannot_close_session(self, bank_payment_method_diffs=None):
        result = super()._cannot_close_session(bank_payment_method_diffs)
        if result:
            return result
        problems = self._centrapay_close_problems(refresh=True)
        if problems:
            return self._centrapay_close_refusal(problems)
        return result

    def update_closing_control_state_session(self, notes):
        # The till moves the session to closing control before it closes it:
        # refuse first, so that a refused close leaves the session open.
        self._centrapay_check_close(refresh=True)
        return super().update_closing_control_state_session(notes)

    def action_pos_session_closing_control(
        self,
        balancing_account=False,
        amount_to_balance=0,
        bank_payment_method_diffs=None,
    ):
        self._centrapay_check_close(refresh=True)
        return super().action_pos_session_closing_control(
            balancing_account, amount_to_balance, bank_payment_method_diffs
        )

    def _validate_session(
        self,
        balancing_account=False,
        amount_to_balance=0,
        bank_payment_method_diffs=None,
    ):
        # Where every close ends, whichever entry point was called.
        self._centrapay_check_close()
        return super()._validate_session(
            balancing_account, amount_to_balance, bank_payment_method_diffs
        )

    # --- Buttons ------------------------------------------------------------------

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
        return self.with_context(
            **{CLOSE_DESPITE: True}
        ).action_pos_session_closing_control()

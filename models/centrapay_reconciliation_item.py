from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_repr

from .. import const

KINDS = [
    ("matched", "Matched"),
    ("orphan", "Paid at Centrapay, no POS payment"),
    ("unpaid_pos", "POS payment not paid at Centrapay"),
    ("amount_mismatch", "Amount mismatch"),
    ("refund_one_side", "Refund on one side only"),
    ("pending", "Still pending"),
    ("void", "Not paid (expired or cancelled)"),
]
# What a manager must look at before closing a session.
OPEN_KINDS = ("orphan", "unpaid_pos", "amount_mismatch", "refund_one_side", "pending")


class CentrapayReconciliationItem(models.Model):
    """What Odoo recorded against what Centrapay's ledger holds, per request.

    Computed from the ledger (``centrapay.payment.activity``) and the POS
    records (``pos.payment``), never typed by hand: ``_centrapay_reconcile``
    refreshes the items of a scope. Odoo's side is the request's POS payment
    plus the POS refund lines of its refunds; Centrapay's side is its payment
    activities minus its refund activities. A manager's explanation (and the
    log of actions) survives a refresh.
    """

    _name = "centrapay.reconciliation.item"
    _inherit = ["centrapay.engine.record"]
    _description = "Centrapay Reconciliation Item"
    _order = "date desc, id desc"
    _rec_name = "centrapay_request_id"

    centrapay_request_id = fields.Char(
        "Centrapay Request ID", required=True, readonly=True, index=True
    )
    request_id = fields.Many2one(
        "centrapay.payment.request", readonly=True, index=True, ondelete="cascade"
    )
    short_code = fields.Char(readonly=True)
    date = fields.Date(readonly=True, index=True)
    session_id = fields.Many2one("pos.session", readonly=True, index=True)
    config_id = fields.Many2one("pos.config", "Point of Sale", readonly=True)
    payment_method_id = fields.Many2one("pos.payment.method", readonly=True)
    pos_order_id = fields.Many2one("pos.order", "Order", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    asset_types = fields.Char(readonly=True)
    odoo_amount = fields.Monetary("Recorded in Odoo", readonly=True)
    centrapay_amount = fields.Monetary("Centrapay ledger", readonly=True)
    difference = fields.Monetary(readonly=True)
    kind = fields.Selection(KINDS, readonly=True, index=True)
    explained = fields.Boolean(readonly=True)
    explanation = fields.Text(readonly=True)
    state = fields.Selection(
        [("open", "To check"), ("done", "Matched or explained")],
        compute="_compute_state",
        store=True,
    )
    action_ids = fields.One2many(
        "centrapay.reconciliation.action", "item_id", readonly=True
    )

    _sql_constraints = [
        (
            "request_unique",
            "unique(centrapay_request_id)",
            "One reconciliation item per Centrapay request.",
        )
    ]

    @api.depends("kind", "explained")
    def _compute_state(self):
        for item in self:
            item.state = "done" if item.kind == "matched" or item.explained else "open"

    # --- The comparison -----------------------------------------------------------

    @api.model
    def _centrapay_reconcile(self, requests, activities=None):
        """Refresh the items of ``requests`` and of ledger ``activities`` (sudo)."""
        activities = activities or self.env["centrapay.payment.activity"]
        ledger = self.env["centrapay.payment.activity"].search(
            [
                "|",
                ("request_id", "in", requests.ids),
                ("id", "in", activities.ids),
            ]
        )
        by_cp_id = {}
        for activity in ledger:
            by_cp_id.setdefault(activity.centrapay_request_id, []).append(activity)
        for request in requests.filtered("centrapay_id"):
            by_cp_id.setdefault(request.centrapay_id, [])
        ours = {r.centrapay_id: r for r in requests if r.centrapay_id}
        missing = set(by_cp_id) - set(ours)
        if missing:
            for request in self.env["centrapay.payment.request"].search(
                [("centrapay_id", "in", list(missing))]
            ):
                ours[request.centrapay_id] = request
        existing = {
            item.centrapay_request_id: item
            for item in self.search([("centrapay_request_id", "in", list(by_cp_id))])
        }
        for cp_id, acts in by_cp_id.items():
            values = self._centrapay_compare(cp_id, ours.get(cp_id), acts)
            item = existing.get(cp_id)
            if values is None:
                # Never paid, never recorded (any more): no longer to check.
                if item and item.kind != "void":
                    item.write({"kind": "void", "difference": 0})
                continue
            if item:
                item.write(values)
            else:
                self.create({"centrapay_request_id": cp_id, **values})

    @api.model
    def _centrapay_compare(self, cp_id, request, activities):
        """The item's values for one Centrapay request (``request`` may be empty)."""
        request = request or self.env["centrapay.payment.request"]
        money = [a for a in activities if a.activity_type in ("payment", "refund")]
        if (
            not money
            and not request.pos_payment_id
            and request.status not in ("paid", *const.PENDING_STATUSES)
        ):
            return None  # never paid, never recorded: nothing to reconcile
        paid = sum(a.amount for a in activities if a.activity_type == "payment")
        refunded = sum(a.amount for a in activities if a.activity_type == "refund")
        if request.status == "paid" and not paid:
            # The ledger has not brought its activities yet.
            paid = request._centrapay_taken()
        pos_paid = sum(request.pos_payment_id.mapped("amount"))
        pos_refunded = -sum(request.refund_ids.pos_payment_id.mapped("amount"))
        centrapay_net = paid - refunded
        odoo_net = pos_paid - pos_refunded
        currency = request.currency_id or (activities and activities[0].currency_id)
        first = activities[-1] if activities else None
        when = request.create_date or (first and first.occurred_at)
        if request.status in const.PENDING_STATUSES:
            kind = "pending"
        elif currency and not currency.compare_amounts(centrapay_net, odoo_net):
            kind = "matched"
        elif request.pos_payment_id and (
            request.status != "paid" or request.refunded_by_void
        ):
            kind = "unpaid_pos"
        elif not request.pos_payment_id and paid:
            kind = "orphan"
        elif currency and currency.compare_amounts(refunded, pos_refunded):
            kind = "refund_one_side"
        else:
            kind = "amount_mismatch"
        return {
            "request_id": request.id or False,
            "short_code": request.short_code or (first and first.short_code) or False,
            "date": when and fields.Date.to_date(when),
            "session_id": request.session_id.id
            or request.pos_order_id.session_id.id
            or False,
            "config_id": request.config_id.id or False,
            "payment_method_id": request.payment_method_id.id or False,
            "pos_order_id": request.pos_order_id.id or False,
            "company_id": (request.company_id or (first and first.company_id)).id
            or False,
            "currency_id": currency.id if currency else False,
            "asset_types": request.asset_types
            or ", ".join(sorted({a.asset_type for a in activities if a.asset_type}))
            or False,
            "odoo_amount": odoo_net,
            "centrapay_amount": centrapay_net,
            "difference": centrapay_net - odoo_net,
            "kind": kind,
        }

    @api.model
    def _centrapay_session_requests(self, sessions):
        """Every request of ``sessions``: made, paying or refunded there (sudo)."""
        Request = self.env["centrapay.payment.request"].sudo()
        requests = Request.search(
            [
                "|",
                ("session_id", "in", sessions.ids),
                ("pos_order_id.session_id", "in", sessions.ids),
            ]
        )
        refunds = (
            self.env["centrapay.refund"]
            .sudo()
            .search([("pos_order_id.session_id", "in", sessions.ids)])
        )
        return requests | refunds.request_id

    @api.model
    def _centrapay_reconcile_sessions(self, sessions):
        """Refresh the items of every request of ``sessions``, and return them."""
        requests = self._centrapay_session_requests(sessions)
        self.sudo()._centrapay_reconcile(requests)
        return self.search([("request_id", "in", requests.ids)])

    @api.model
    def _centrapay_open_problems(self, requests):
        """``(request, values)`` for each request a manager must look at.

        The comparison of ``_centrapay_reconcile``, read only: it writes no item,
        so a refused close leaves nothing behind. An item a manager explained
        stays explained.
        """
        requests = requests.sudo()
        ledger = (
            self.env["centrapay.payment.activity"]
            .sudo()
            .search([("request_id", "in", requests.ids)])
        )
        by_request = {}
        for activity in ledger:
            by_request.setdefault(activity.request_id.id, []).append(activity)
        explained = (
            self.sudo()
            .search([("request_id", "in", requests.ids), ("explained", "=", True)])
            .request_id
        )
        problems = []
        for request in requests - explained:
            values = self._centrapay_compare(
                request.centrapay_id, request, by_request.get(request.id, [])
            )
            if values and values["kind"] in OPEN_KINDS:
                problems.append((request, values))
        return problems

    # --- Actions (managers) -------------------------------------------------------

    def _centrapay_log(self, action, note=False):
        self.env["centrapay.reconciliation.action"].sudo().create(
            [{"item_id": item.id, "action": action, "note": note} for item in self]
        )

    def action_centrapay_explain(self):
        """Open the wizard that marks the items explained, with a note."""
        self.check_access("write")
        return self._centrapay_wizard("explain")

    def action_centrapay_attach(self):
        """Open the wizard that attaches an orphan to the POS order it belongs to."""
        self.ensure_one()
        self.check_access("write")
        if self.kind != "orphan" or not self.request_id:
            raise UserError(self.env._("Only a Centrapay orphan can be attached."))
        return self._centrapay_wizard("attach")

    def _centrapay_wizard(self, mode):
        return {
            "type": "ir.actions.act_window",
            "res_model": "centrapay.reconciliation.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_item_ids": self.ids, "default_mode": mode},
        }

    def action_centrapay_refund_orphan(self):
        """Refund an orphan in full through the refund code."""
        self.ensure_one()
        self.check_access("write")
        if self.kind != "orphan" or not self.request_id:
            raise UserError(
                self.env._("Only a Centrapay orphan is refunded from here.")
            )
        request = self.request_id.sudo()
        left = request._centrapay_refundable()
        refund = (
            self.env["centrapay.refund"]
            .sudo()
            ._centrapay_start(
                request,
                Decimal(float_repr(left, request.currency_id.decimal_places)),
                "backoffice",
                reason=self.env._(
                    "Reconciliation: paid at Centrapay with no POS payment"
                ),
            )
        )
        self._centrapay_log("refund", refund.external_ref)
        self.sudo()._centrapay_reconcile(request)
        return refund._centrapay_notification()

    @api.model
    def action_centrapay_open(self, session_ids=None):
        """Refresh the items of recent sessions (or ``session_ids``) and list them."""
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise UserError(self.env._("Only Point of Sale managers reconcile."))
        Session = self.env["pos.session"]
        if session_ids:
            sessions = Session.browse(session_ids)
            sessions.check_access("read")
        else:
            since = fields.Datetime.subtract(fields.Datetime.now(), days=31)
            sessions = Session.search([("start_at", ">=", since)])
        self._centrapay_reconcile_sessions(sessions)
        # Ledger activities of the period that no request of ours explains.
        since = fields.Datetime.subtract(fields.Datetime.now(), days=31)
        outside = (
            self.env["centrapay.payment.activity"]
            .sudo()
            .search(
                [
                    ("request_id", "=", False),
                    ("occurred_at", ">=", since),
                    ("company_id", "in", self.env.companies.ids),
                ]
            )
        )
        self.sudo()._centrapay_reconcile(self.env["centrapay.payment.request"], outside)
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "pos_centrapay.action_centrapay_reconciliation_item"
        )
        if session_ids:
            action["domain"] = [("session_id", "in", sessions.ids)]
            action["context"] = {"search_default_group_session": 1}
        return action

    def action_centrapay_refresh(self):
        """Recompute these items from the ledger and the POS records."""
        self.check_access("read")
        self.sudo()._centrapay_reconcile(self.request_id.sudo())
        return True

import base64
import io
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import qrcode
import qrcode.image.svg

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import file_open, float_repr

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay.errors import WebhookVerificationError
from ..centrapay.money import line_items_sum_ok

_logger = logging.getLogger(__name__)

# When the status job last ended a pass, per database (see _centrapay_cron).
_LAST_PASS = {}

STATUSES = [
    ("draft", "Creating"),
    ("new", "Waiting for payment"),
    ("paid", "Paid"),
    ("cancelled", "Cancelled"),
    ("expired", "Expired"),
    ("error", "Failed"),
]


def _parse_timestamp(value):
    """A Centrapay timestamp as a naive UTC datetime (Odoo's convention)."""
    if not value:
        return False
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False  # Malformed: keep what we knew.
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


class CentrapayPaymentRequest(models.Model):
    _name = "centrapay.payment.request"
    _description = "Centrapay Payment Request"
    _order = "id desc"
    _rec_name = "name"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    centrapay_id = fields.Char("Centrapay ID", readonly=True, index=True, copy=False)
    short_code = fields.Char(readonly=True, index=True, copy=False)
    url = fields.Char("Pay URL", readonly=True, copy=False)
    amount = fields.Monetary(readonly=True, required=True)
    currency_id = fields.Many2one("res.currency", readonly=True, required=True)
    status = fields.Selection(
        STATUSES, default="draft", required=True, readonly=True, index=True
    )
    expires_at = fields.Datetime(readonly=True)
    external_ref = fields.Char(
        "External Reference", readonly=True, required=True, copy=False, index=True
    )
    terminal_id = fields.Char(readonly=True)
    device_id = fields.Char(readonly=True)
    operator_id = fields.Char(readonly=True)
    payment_method_id = fields.Many2one(
        "pos.payment.method",
        readonly=True,
        required=True,
        ondelete="restrict",
        check_company=True,
    )
    config_id = fields.Many2one(
        "pos.config", "Point of Sale", readonly=True, check_company=True
    )
    session_id = fields.Many2one(
        "pos.session", readonly=True, index=True, check_company=True
    )
    pos_order_id = fields.Many2one(
        "pos.order", "Order", readonly=True, index=True, check_company=True
    )
    pos_payment_id = fields.Many2one(
        "pos.payment", "Payment", readonly=True, check_company=True
    )
    pos_order_uuid = fields.Char(readonly=True, index=True)
    pos_payment_uuid = fields.Char(readonly=True, index=True)
    paid_by_description = fields.Char("Paid With", readonly=True)
    paid_by_json = fields.Text(readonly=True)
    cancellation_reason = fields.Char(readonly=True)
    activity_ids = fields.One2many(
        "centrapay.payment.activity", "request_id", readonly=True
    )
    last_error = fields.Char(readonly=True)
    unknown_error_count = fields.Integer(readonly=True)
    error_count = fields.Integer(
        readonly=True, help="Consecutive failed calls of any kind (for the backoff)."
    )
    void_requested = fields.Boolean(readonly=True)
    refunded_by_void = fields.Boolean(
        readonly=True,
        help="The patron paid just before our void, which refunded the payment.",
    )
    last_read_at = fields.Datetime(readonly=True)
    next_poll_at = fields.Datetime(readonly=True, index=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda s: s.env.company
    )

    _sql_constraints = [
        (
            "external_ref_unique",
            "unique(external_ref)",
            "Each Centrapay request needs its own external reference.",
        ),
    ]

    @api.depends("short_code", "external_ref")
    def _compute_name(self):
        for request in self:
            request.name = request.short_code or request.external_ref

    # --- Creation -----------------------------------------------------------------

    @api.model
    def _centrapay_create_for_line(self, method, session, amount, data):
        """Return the open request of a payment line, creating it when needed.

        A request for the same line and amount is reused; one for another amount
        is voided first, so the patron can never pay a stale QR code.
        """
        payment_uuid = data.get("payment_uuid")
        if not payment_uuid:
            raise UserError(self.env._("The POS sent no payment line for Centrapay."))
        open_requests = self.search(
            [
                ("pos_payment_uuid", "=", payment_uuid),
                ("status", "in", const.PENDING_STATUSES),
            ]
        )
        currency = method._centrapay_currency()
        for request in open_requests:
            if (
                request.status == "new"
                and not request.void_requested
                and request.currency_id == currency
                and request.currency_id.compare_amounts(request.amount, float(amount))
                == 0
                and request.expires_at
                and request.expires_at > fields.Datetime.now()
            ):
                return request
            request._centrapay_void(reason="superseded")
            if request.status == "paid":
                # The patron paid the old QR code just now: that is this line's
                # payment, whatever the new amount. Never ask to pay twice.
                return request
        request = self.create(
            {
                "amount": float(amount),
                "currency_id": currency.id,
                "external_ref": self._centrapay_new_external_ref(data),
                "payment_method_id": method.id,
                "config_id": session.config_id.id,
                "session_id": session.id,
                "pos_order_uuid": data.get("order_uuid"),
                "pos_payment_uuid": payment_uuid,
                "terminal_id": f"odoo-pos-{session.config_id.id}",
                "device_id": str(data.get("device_id") or "")[:64] or False,
                "operator_id": self.env.user.login,
                "company_id": method.company_id.id or self.env.company.id,
            }
        )
        request._centrapay_send_create(amount, data.get("line_items"))
        return request

    @api.model
    def _centrapay_new_external_ref(self, data):
        # Unique per attempt (SPEC §3.7): the create has no idempotency key, so a
        # lost response is recovered by looking this reference up.
        order = str(data.get("order_name") or data.get("order_uuid") or "POS")[:60]
        seq = self.env["ir.sequence"].next_by_code("centrapay.payment.request")
        return f"{order}/{seq}"

    def _centrapay_send_create(self, amount, line_items):
        self.ensure_one()
        method = self.payment_method_id
        client = method._centrapay_client()
        items = self._centrapay_line_items(amount, line_items)
        self._centrapay_spend(interactive=True)
        try:
            response = client.create_payment_request(
                config_id=method.centrapay_merchant_config_id,
                amount=amount,
                currency=self.currency_id.name,
                external_ref=self.external_ref,
                terminal_id=self.terminal_id,
                device_id=self.device_id or self.terminal_id,
                operator_id=self.operator_id,
                line_items=items,
                expiry_seconds=method.centrapay_expiry_seconds,
                merchant_account_id=method.centrapay_merchant_account_id or None,
            )
        except cp_errors.CentrapayUnknownOutcome as exc:
            # It may exist: the status job looks it up by externalRef and voids it.
            self._centrapay_note_error(exc, unknown=True)
            self._centrapay_schedule()
            raise UserError(self._centrapay_error_message(exc)) from exc
        except cp_errors.CentrapayError as exc:
            self._centrapay_note_error(exc)
            self.status = "error"
            raise UserError(self._centrapay_error_message(exc)) from exc
        self._centrapay_apply(response)
        # Due at once: the job's next pass reads it, and from then on every pass.
        self._centrapay_schedule(delay=0)

    def _centrapay_line_items(self, amount, line_items):
        """Line items for Centrapay, or None when they would not sum to ``amount``.

        A split tender pays part of the basket: its items cannot sum to the
        amount, and Centrapay would reject them (LINE_ITEMS_SUM_CHECK_FAILED).
        """
        if not line_items:
            return None
        digits = self.currency_id.decimal_places
        items = []
        for line in line_items:
            price = round(float(line.get("price") or 0) * 10**digits)
            item = {
                "name": str(line.get("name") or "")[:120] or "Item",
                "qty": float_repr(float(line.get("qty") or 0), 3)
                .rstrip("0")
                .rstrip("."),
                "price": str(price),
            }
            if line.get("sku"):
                item["sku"] = str(line["sku"])[:64]
            if line.get("tax") is not None:
                item["tax"] = float_repr(float(line["tax"]), 2)
            items.append(item)
        cents = str(round(float(amount) * 10**digits))
        return items if line_items_sum_ok(items, cents) else None

    # --- State from Centrapay -----------------------------------------------------

    def _centrapay_apply(self, payment_request):
        """Store what Centrapay says about this request; push any change to the POS."""
        self.ensure_one()
        before = self.status
        status = payment_request.get("status")
        if status not in dict(STATUSES):
            raise cp_errors.CentrapayUnknownOutcome(
                "malformed", f"unexpected status {status!r}"
            )
        cancellation_reason = payment_request.get("cancellationReason") or False
        if status == "paid" and self.refunded_by_void:
            status, cancellation_reason = "cancelled", "REFUNDED_BY_VOID"
        paid_by = payment_request.get("paidBy") or {}
        totals = paid_by.get("assetTotals") or []
        vals = {
            "centrapay_id": payment_request.get("id") or self.centrapay_id,
            "short_code": payment_request.get("shortCode") or self.short_code,
            "url": payment_request.get("url") or self.url,
            "status": status,
            "expires_at": _parse_timestamp(payment_request.get("expiresAt"))
            or self.expires_at,
            "cancellation_reason": cancellation_reason,
            "last_read_at": fields.Datetime.now(),
            "unknown_error_count": 0,
            "error_count": 0,
            "last_error": False,
        }
        if totals:
            vals["paid_by_description"] = ", ".join(
                str(t.get("description") or t.get("type") or "") for t in totals
            )
            vals["paid_by_json"] = json.dumps(paid_by)
        self.write(vals)
        if self.status != before:
            self._centrapay_notify_pos()
            if self.status in const.FINAL_STATUSES:
                self._centrapay_sync_activities()

    def _centrapay_sync_activities(self):
        """Store the request's activities (E9): payment, cancellation, refund..."""
        self.ensure_one()
        if not self.centrapay_id or not self._centrapay_take(interactive=False):
            return  # Over budget: the back office can refresh them later.
        client = self.payment_method_id._centrapay_client()
        try:
            items = client.list_payment_request_activities(self.centrapay_id)
        except cp_errors.CentrapayError as exc:
            self._centrapay_note_error(exc)
            return
        money = self.env["centrapay.payment.activity"]._centrapay_amount
        # Centrapay's record, not the user's: whoever triggered the read.
        self.sudo().activity_ids = [fields.Command.clear()] + [
            fields.Command.create(
                {
                    "activity_number": int(item.get("activityNumber") or 0),
                    "activity_type": item.get("type"),
                    "amount": money(item.get("value"), self.currency_id),
                    "asset_type": item.get("assetType"),
                    "external_ref": item.get("externalRef"),
                    "occurred_at": _parse_timestamp(item.get("createdAt")),
                }
            )
            for item in items
        ]

    def action_centrapay_refresh(self):
        """Back office: read the request (and its activities) from Centrapay now."""
        for request in self:
            request._centrapay_lock(wait=True)
            request._centrapay_refresh()
            if request.status in const.FINAL_STATUSES:
                request._centrapay_sync_activities()

    def action_centrapay_void(self):
        """Back office: void a request still waiting for payment."""
        for request in self.filtered(lambda r: r.status in const.PENDING_STATUSES):
            request._centrapay_void(reason="back office")

    def _centrapay_note_error(self, exc, unknown=False):
        vals = {
            "last_error": self._centrapay_error_message(exc),
            "error_count": self.error_count + 1,
        }
        if unknown:
            vals["unknown_error_count"] = self.unknown_error_count + 1
        self.write(vals)
        _logger.info("Centrapay request %s (%s): %r", self.id, self.external_ref, exc)

    def _centrapay_refresh(self):
        """Re-read the request from Centrapay (E2), or find a lost create (E4).

        Returns False, without any call, when the account's budget is spent.
        """
        self.ensure_one()
        client = self.payment_method_id._centrapay_client()
        if not self._centrapay_take(interactive=False):
            return False  # Over budget: the next poll reads it.
        try:
            if self.centrapay_id:
                self._centrapay_apply(client.get_payment_request(self.centrapay_id))
            else:
                self._centrapay_recover_lost_create(client)
        except cp_errors.CentrapayUnknownOutcome as exc:
            self._centrapay_note_error(exc, unknown=True)
        except cp_errors.CentrapayError as exc:
            self._centrapay_note_error(exc)
        return True

    def _centrapay_recover_lost_create(self, client):
        method = self.payment_method_id
        if not method.centrapay_merchant_account_id:
            self.write({"status": "error"})
            self._centrapay_notify_pos()
            return
        page = client.list_payment_requests_by_external_ref(
            self.external_ref, method.centrapay_merchant_account_id
        )
        if page.items:
            self._centrapay_apply(client.get_payment_request(page.items[0]["id"]))
            # The POS gave up on it when the create failed: nobody shows this QR.
            self._centrapay_void(reason="lost create")
        elif self.create_date < fields.Datetime.now() - timedelta(minutes=2):
            self.write({"status": "error"})
            self._centrapay_notify_pos()

    def _centrapay_refresh_if_stale(self):
        self.ensure_one()
        stale = fields.Datetime.now() - timedelta(seconds=const.STALE_AFTER_SECONDS)
        if self.status in const.PENDING_STATUSES and (
            not self.last_read_at or self.last_read_at < stale
        ):
            if self._centrapay_lock(wait=False):
                self._centrapay_refresh()

    def _centrapay_void(self, reason):
        """Void the request: Centrapay's only way to cancel it (SPEC §6.7).

        The request is read first: a paid one is reported paid, never voided here
        (voiding a paid request refunds it). After the void it is read again,
        and that final status is the truth.
        """
        self.ensure_one()
        self._centrapay_lock(wait=True)
        if self.status not in const.PENDING_STATUSES:
            return
        self.void_requested = True
        if not self.centrapay_id:
            self._centrapay_refresh()
            if not self.centrapay_id:
                return
        client = self.payment_method_id._centrapay_client()
        _logger.info("Voiding Centrapay request %s (%s)", self.centrapay_id, reason)
        try:
            self._centrapay_spend(interactive=True)
            self._centrapay_apply(client.get_payment_request(self.centrapay_id))
        except cp_errors.CentrapayError as exc:
            # An unknown status is exactly when a void is due (SPEC §7.3).
            self._centrapay_note_error(
                exc, unknown=isinstance(exc, cp_errors.CentrapayUnknownOutcome)
            )
        if self.status != "new":
            return
        try:
            self._centrapay_spend(interactive=True)
            activity = client.void_payment_request(self.centrapay_id)
            if activity.get("type") == "refund":
                # Paid between our read and the void: Centrapay refunded it and
                # still says "paid" (SPEC §6.7). The sale is not paid.
                self.refunded_by_void = True
        except cp_errors.CentrapayError as exc:
            # REQUEST_EXPIRED, a lost answer...: the read below tells the truth.
            self._centrapay_note_error(
                exc, unknown=isinstance(exc, cp_errors.CentrapayUnknownOutcome)
            )
        try:
            self._centrapay_spend(interactive=True)
            self._centrapay_apply(client.get_payment_request(self.centrapay_id))
        except cp_errors.CentrapayError as exc:
            self._centrapay_note_error(exc, unknown=True)

    # --- The status job -----------------------------------------------------------

    def _centrapay_schedule(self, delay=const.POLL_INTERVAL_SECONDS):
        self.write({"next_poll_at": fields.Datetime.now() + timedelta(seconds=delay)})
        self.env.ref("pos_centrapay.ir_cron_centrapay_status")._trigger()

    def _centrapay_lock(self, wait):
        """Lock this request's row for the transaction; False if another has it."""
        self.ensure_one()
        self.flush_recordset()
        query = "SELECT id FROM centrapay_payment_request WHERE id = %s FOR UPDATE"
        if not wait:
            query += " SKIP LOCKED"
        self.env.cr.execute(query, [self.id])
        locked = bool(self.env.cr.fetchone())
        if locked:
            self.invalidate_recordset()
        return locked

    @api.model
    def _centrapay_poll_due(self, limit=50, ids=None, due_by=None):
        """Process pending requests due by ``due_by`` (default now), or just ``ids``.

        Rows are taken with ``FOR UPDATE SKIP LOCKED``: two cron workers, or the
        cron and a webhook, never work on the same request at once. Returns the
        ids of the requests that were processed.
        """
        now = fields.Datetime.now()
        due_by = due_by or now
        self.flush_model(["status", "next_poll_at"])
        self.env.cr.execute(
            """
            SELECT id FROM centrapay_payment_request
             WHERE status IN %s AND (next_poll_at IS NULL OR next_poll_at <= %s)
               AND (%s IS NULL OR id = ANY(%s))
             ORDER BY next_poll_at NULLS FIRST, id
             LIMIT %s
               FOR UPDATE SKIP LOCKED
            """,
            [const.PENDING_STATUSES, due_by, ids and True, list(ids or []), limit],
        )
        taken = [row[0] for row in self.env.cr.fetchall()]
        for request in self.browse(taken):
            try:
                with self.env.cr.savepoint():
                    request._centrapay_process()
            except Exception as exc:  # noqa: BLE001 (one request must not stall all)
                # Kept on the request, logged with its traceback, retried later.
                _logger.exception(
                    "Centrapay status job failed on request %s", request.id
                )
                message = exc.args[0] if isinstance(exc, UserError) else repr(exc)
                request.write(
                    {
                        "last_error": str(message)[:500],
                        "error_count": request.error_count + 1,
                        "next_poll_at": now + timedelta(seconds=30),
                    }
                )
        return taken

    def _centrapay_process(self):
        """One step of the status job for one (locked) request."""
        self.ensure_one()
        now = fields.Datetime.now()
        pos_timeout = self.expires_at and self.expires_at + timedelta(
            seconds=const.POS_TIMEOUT_GRACE_SECONDS
        )
        if not self._centrapay_refresh():
            self.next_poll_at = now + timedelta(seconds=const.POLL_INTERVAL_SECONDS)
            return
        if self.status in const.PENDING_STATUSES and (
            self.unknown_error_count >= const.MAX_UNKNOWN_ERRORS
            or (pos_timeout and now >= pos_timeout)
            or (self.void_requested and self.status == "new")
        ):
            self._centrapay_void(
                reason="status unknown"
                if self.unknown_error_count >= const.MAX_UNKNOWN_ERRORS
                else "POS timeout"
            )
        started = self.expires_at or self.create_date
        if self.status in const.PENDING_STATUSES and now >= started + timedelta(
            seconds=const.GIVE_UP_AFTER_SECONDS
        ):
            # Centrapay expires every request it knows: one still pending this long
            # after its expiry cannot be read at all. Stop, and say so.
            self.write(
                {
                    "status": "error",
                    "last_error": self.env._(
                        "Centrapay could not be reached about this request; it was "
                        "abandoned. Check it in the Centrapay portal."
                    ),
                }
            )
            self._centrapay_notify_pos()
            return
        backoff = min(2 ** max(self.error_count - 1, 0), 30)
        self.next_poll_at = now + timedelta(
            seconds=const.POLL_INTERVAL_SECONDS * backoff
        )

    @api.model
    def _centrapay_cron(self):
        """Cron entry point: poll due requests, about once a second while any wait.

        Each request is locked, processed and committed in a transaction of its
        own, so a webhook or the cashier waits for one HTTP call at most, and each
        change reaches the POS bus at once. Reporting progress makes the cron
        runner call again at once (and reschedule as soon as possible after its
        batch limit): that keeps the polling near 1 Hz without waiting for the
        next minute. Requests in a longer backoff are left to a later trigger.
        """
        last = _LAST_PASS.get(self.env.cr.dbname)
        if last is not None:
            time.sleep(
                max(0.0, const.POLL_INTERVAL_SECONDS - (time.monotonic() - last))
            )
        now = fields.Datetime.now()
        # Half a period of slack: a request due just after this pass is read now,
        # not a whole period later.
        due_by = now + timedelta(seconds=const.POLL_INTERVAL_SECONDS / 2)
        pending_domain = [("status", "in", const.PENDING_STATUSES)]
        # A fresh snapshot: this job's own transaction began before the pause and
        # would not see a request created during it.
        with self.pool.cursor() as cr:
            fresh = self.with_env(self.env(cr=cr))
            due = fresh.search(
                [
                    *pending_domain,
                    "|",
                    ("next_poll_at", "=", False),
                    ("next_poll_at", "<=", due_by),
                ],
                limit=50,
            ).ids
        for request_id in due:
            with self.pool.cursor() as cr:
                self.with_env(self.env(cr=cr))._centrapay_poll_due(
                    ids=[request_id], due_by=due_by
                )
        _LAST_PASS[self.env.cr.dbname] = time.monotonic()
        with self.pool.cursor() as cr:
            pending = self.with_env(self.env(cr=cr)).search_read(
                pending_domain, ["next_poll_at"], order="next_poll_at"
            )
        soon = now + timedelta(seconds=2 * const.POLL_INTERVAL_SECONDS)
        if any(not r["next_poll_at"] or r["next_poll_at"] <= soon for r in pending):
            # done >= 1: the runner reads done=0 as "not using the progress API".
            self.env["ir.cron"]._notify_progress(
                done=max(1, len(due)), remaining=len(pending)
            )
        elif pending:
            self.env.ref("pos_centrapay.ir_cron_centrapay_status")._trigger(
                at=pending[0]["next_poll_at"]
            )

    # --- Rate budget --------------------------------------------------------------

    def _centrapay_take(self, interactive):
        """Take a token from the account's shared budget (see centrapay.rate.limit)."""
        key = self.payment_method_id._centrapay_rate_key()
        return self.env["centrapay.rate.limit"]._take(key, interactive=interactive)

    def _centrapay_spend(self, interactive):
        """Take a token, or tell the cashier to try again shortly."""
        if not self._centrapay_take(interactive):
            raise UserError(
                self.env._(
                    "Centrapay is busy (too many requests for this account). "
                    "Please try again in a few seconds."
                )
            )

    # --- What the POS sees --------------------------------------------------------

    def _centrapay_public_state(self):
        """The request as the POS may see it: no credentials, no internals."""
        self.ensure_one()
        expires = self.expires_at
        return {
            "id": self.id,
            "centrapay_id": self.centrapay_id or False,
            "short_code": self.short_code or False,
            "url": self.url or False,
            "qr": self._centrapay_qr_data_uri() if self.url else False,
            "amount": self.amount,
            "currency": self.currency_id.name,
            "status": self.status,
            "expires_at": expires and expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            # Relative, so a POS whose clock is off still counts down correctly.
            "expires_in": expires
            and max(0, int((expires - fields.Datetime.now()).total_seconds())),
            "pos_timeout_seconds": const.POS_TIMEOUT_GRACE_SECONDS,
            "paid_by": self.paid_by_description or False,
            "cancellation_reason": self.cancellation_reason or False,
            "error": self.last_error if self.status == "error" else False,
            "payment_uuid": self.pos_payment_uuid,
        }

    def _centrapay_notify_pos(self):
        """Tell the POS the status changed. It reads the details over RPC."""
        for request in self.filtered("config_id"):
            request.config_id._notify(
                const.BUS_CHANNEL,
                {
                    "request_id": request.id,
                    "payment_uuid": request.pos_payment_uuid,
                    "status": request.status,
                },
            )

    def _centrapay_qr_data_uri(self):
        """A Centrapay-branded QR code (logo in the centre) of ``url``, as SVG."""
        self.ensure_one()
        qr = qrcode.QRCode(
            error_correction=qrcode.constants.ERROR_CORRECT_H,
            border=2,
            image_factory=qrcode.image.svg.SvgPathImage,
        )
        qr.add_data(self.url)
        image = qr.make_image()
        stream = io.BytesIO()
        image.save(stream)
        svg = stream.getvalue().decode()
        size = (qr.modules_count + 2 * qr.border) * 10 / 10
        with file_open("pos_centrapay/static/src/img/centrapay_mark.svg", "rb") as f:
            logo = base64.b64encode(f.read()).decode()
        # The logo covers under 5% of the code; level H corrects up to 30%.
        box = size * 0.22
        start = (size - box) / 2
        overlay = (
            f'<rect x="{start}" y="{start}" width="{box}" height="{box}" '
            f'fill="#ffffff" rx="{box / 8}"/>'
            f'<image x="{start + box * 0.1}" y="{start + box * 0.1}" '
            f'width="{box * 0.8}" height="{box * 0.8}" '
            f'href="data:image/svg+xml;base64,{logo}"/>'
        )
        svg = svg.replace("</svg>", overlay + "</svg>")
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()

    # --- Messages -----------------------------------------------------------------

    @api.model
    def _centrapay_error_message(self, exc):
        """A translated, key-free message for the cashier or the back office."""
        if isinstance(exc, cp_errors.CentrapayUnknownOutcome):
            return self.env._(
                "Centrapay did not answer clearly (%(kind)s). The request will be "
                "checked again and voided if it cannot be confirmed.",
                kind=exc.kind,
            )
        if isinstance(exc, cp_errors.CentrapayAuthError):
            return self.env._(
                "Centrapay refused the API key. Check the payment method."
            )
        if isinstance(exc, cp_errors.CentrapayRateLimited):
            return self.env._("Centrapay is busy. Please try again in a few seconds.")
        if isinstance(exc, cp_errors.CentrapayValidationError):
            return self.env._("Invalid Centrapay request: %s", exc.message)
        if isinstance(exc, cp_errors.CentrapayAPIError):
            if exc.reason:
                return self.env._(
                    "Centrapay: %(code)s (%(reason)s)", code=exc.code, reason=exc.reason
                )
            return self.env._("Centrapay: %s", exc.code)
        return self.env._("Centrapay error.")

    # --- Webhooks -----------------------------------------------------------------

    @api.model
    def _centrapay_handle_webhook(self, payment_request_id, authorization, raw_body):
        """Verify and apply one notification; return what happened to it.

        ``rejected``: the signature, audience, expiry or body hash failed.
        ``unavailable``: the signing keys could not be fetched; Centrapay retries.
        ``ignored``: valid, but not about a request of ours, or webhooks are off.
        ``duplicate``: that notification id was processed before.
        ``processed``: the request was re-read from Centrapay.
        """
        request = self.search([("centrapay_id", "=", payment_request_id)], limit=1)
        methods = request.payment_method_id or self.env["pos.payment.method"].search(
            [
                ("use_payment_terminal", "=", "centrapay"),
                ("centrapay_webhook_enabled", "=", True),
            ]
        )
        notification, outcome = None, "rejected"
        for method in methods:
            try:
                notification = method._centrapay_verifier().verify(
                    authorization, raw_body
                )
                break
            except WebhookVerificationError as exc:
                _logger.warning("Centrapay webhook rejected: %s", exc.code)
                if exc.transient:
                    outcome = "unavailable"
        if notification is None:
            return outcome
        if not request or not request.payment_method_id.centrapay_webhook_enabled:
            return "ignored"
        if not self.env["centrapay.webhook.event"]._centrapay_register(
            str(notification.get("id")), notification.get("type"), request
        ):
            return "duplicate"
        request._centrapay_lock(wait=True)
        request._centrapay_refresh()
        if str(notification.get("type", "")).startswith("payment-request:refund"):
            # A refund leaves the status "paid": its trace is in the activities.
            request._centrapay_sync_activities()
        return "processed"

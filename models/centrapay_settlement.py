import json
import logging
from datetime import datetime, time, timedelta

import psycopg2.errors

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .. import const
from ..centrapay import errors as cp_errors
from ..centrapay.status import parse_timestamp
from ..locks import lock_rows

_logger = logging.getLogger(__name__)

CONFIRMED = "confirmed"
# Many2one search operators the bank line takes, and their negations.
POSITIVE_OPERATORS = ("=", "in", "ilike", "like", "=ilike", "=like")
NEGATIVE_OPERATORS = {
    "!=": "=",
    "not in": "in",
    "not ilike": "ilike",
    "not like": "like",
}


class CentrapaySettlement(models.Model):
    """A Centrapay settlement (E19, doc §6.13), matched with the ledger and the bank.

    One per merchant, asset type and period, read from Centrapay by the status
    engine (:meth:`_centrapay_due_sync`) and deduplicated on Centrapay's id. It
    covers the ledger's payments of its asset whose ``settlementDate`` falls on
    its settlement date, and the refunds of that asset during its period: their
    sum is what it should settle. It is *short* when it settles less, *late*
    when not confirmed ``SETTLEMENT_LATE_DAYS`` after its period, and its bank
    line is the imported statement line that carries its bank transfer id.
    """

    _name = "centrapay.settlement"
    _description = "Centrapay Settlement"
    _order = "settlement_date desc, asset_type, id desc"

    name = fields.Char(compute="_compute_name", store=True)
    centrapay_id = fields.Char("Centrapay ID", required=True, readonly=True)
    merchant_id = fields.Char("Merchant ID", readonly=True, index=True)
    asset_type = fields.Char(readonly=True)
    status = fields.Char(
        "Centrapay Status",
        readonly=True,
        help="As Centrapay says: awaiting-confirmation, confirmed.",
    )
    # Centrapay's statuses are an open list: the raw one is kept, this is shown.
    state = fields.Selection(
        [
            ("awaiting-confirmation", "Awaiting Confirmation"),
            (CONFIRMED, "Confirmed"),
            ("other", "Other"),
        ],
        "Status",
        compute="_compute_state",
        store=True,
    )
    asset_label = fields.Char(
        "Asset", compute="_compute_asset_label", help="Its asset type, readable."
    )
    settlement_type = fields.Char("Type", readonly=True)
    is_test = fields.Boolean("Test", readonly=True)
    amount = fields.Monetary("Settled", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    created_at = fields.Datetime("Created at Centrapay", readonly=True)
    created_by = fields.Char(readonly=True)
    settled_at = fields.Datetime(readonly=True)
    settled_by = fields.Char(readonly=True)
    settlement_date = fields.Date(
        readonly=True,
        index=True,
        help="The day Centrapay made it (UTC): its payments carry this "
        "settlement date.",
    )
    period_start = fields.Datetime(readonly=True)
    period_end = fields.Datetime(readonly=True)
    bank_account_ref = fields.Char("Bank Account ID", readonly=True)
    bank_transfer_id = fields.Char("Bank Transfer ID", readonly=True, index=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True
    )
    activity_ids = fields.Many2many(
        "centrapay.payment.activity",
        string="Ledger Activities",
        readonly=True,
        help="The payments and refunds this settlement covers.",
    )
    expected_amount = fields.Monetary(
        "Expected",
        compute="_compute_expected_amount",
        store=True,
        help="Payments less refunds of the ledger activities it covers.",
    )
    difference = fields.Monetary(
        compute="_compute_expected_amount",
        store=True,
        help="Settled less expected: what Centrapay paid beyond (or short of) "
        "the ledger activities Odoo matched to it.",
    )
    difference_kind = fields.Selection(
        [
            ("none", "Agrees"),
            ("more", "Settled more than expected"),
            ("less", "Settled less than expected"),
        ],
        "Difference Check",
        compute="_compute_expected_amount",
        store=True,
    )
    difference_note = fields.Char(
        "What the Difference Means", compute="_compute_difference_note"
    )
    is_short = fields.Boolean(
        "Short",
        compute="_compute_expected_amount",
        store=True,
        help="It settles less than its activities sum to.",
    )
    is_late = fields.Boolean(
        "Late",
        compute="_compute_is_late",
        search="_search_is_late",
        help="Not confirmed some days after its period.",
    )
    statement_line_id = fields.Many2one(
        "account.bank.statement.line",
        "Bank Line",
        compute="_compute_statement_line_id",
        search="_search_statement_line_id",
        help="The imported bank statement line that carries its bank transfer id.",
    )
    # Not a related field: statement lines change often, and a related field
    # would look for the settlements of every line changed.
    statement_amount = fields.Monetary(
        "In the Bank", compute="_compute_statement_line_id"
    )

    _sql_constraints = [
        (
            "centrapay_id_unique",
            "unique(centrapay_id)",
            "A Centrapay settlement is stored once.",
        )
    ]

    @api.depends("settlement_date", "asset_type")
    def _compute_name(self):
        for settlement in self:
            settlement.name = " ".join(
                str(part)
                for part in (
                    settlement.settlement_date,
                    settlement._centrapay_asset_label(settlement.asset_type),
                )
                if part
            )

    @api.depends("status")
    def _compute_state(self):
        known = dict(self._fields["state"].selection)
        for settlement in self:
            status = settlement.status
            settlement.state = status if status in known else bool(status) and "other"

    @api.depends("asset_type")
    def _compute_asset_label(self):
        for settlement in self:
            settlement.asset_label = self._centrapay_asset_label(settlement.asset_type)

    @api.model
    def _centrapay_asset_label(self, asset_type):
        """``centrapay.nzd.test`` as "Centrapay NZD (test)" (doc §6.13)."""
        if not asset_type:
            return ""
        *words, network = asset_type.split(".")
        if not words:
            words, network = [network], ""
        label = " ".join(
            word.upper() if len(word) == 3 else word.capitalize()
            for word in words
            if word and word != "g"
        )
        if network.lower() in ("test", "testnet"):
            return self.env._("%(asset)s (test)", asset=label)
        if network.lower() in ("main", "mainnet", ""):
            return label
        return f"{label} {network}"

    @api.depends("difference_kind", "difference", "currency_id")
    def _compute_difference_note(self):
        for settlement in self:
            amount = abs(settlement.difference)
            currency = settlement.currency_id or settlement.company_id.currency_id
            if settlement.difference_kind == "more":
                settlement.difference_note = self.env._(
                    "Centrapay settled %(amount)s more than the payments Odoo "
                    "matched to it: payments made outside this database (another "
                    "till or system, earlier history), or ledger activities Odoo "
                    "has not read yet. Match the ledger again once they are in.",
                    amount=currency.format(amount),
                )
            elif settlement.difference_kind == "less":
                settlement.difference_note = self.env._(
                    "Centrapay settled %(amount)s less than the payments Odoo "
                    "matched to it, less their refunds: a refund or fee Odoo does "
                    "not know of, or a payment Centrapay settles another day. Ask "
                    "Centrapay if it stays.",
                    amount=currency.format(amount),
                )
            else:
                settlement.difference_note = False

    @api.depends(
        "amount", "currency_id", "activity_ids.amount", "activity_ids.activity_type"
    )
    def _compute_expected_amount(self):
        for settlement in self:
            expected = sum(
                -act.amount if act.activity_type == "refund" else act.amount
                for act in settlement.activity_ids
            )
            currency = settlement.currency_id or settlement.company_id.currency_id
            settlement.expected_amount = expected
            settlement.difference = settlement.amount - expected
            compared = currency.compare_amounts(settlement.amount, expected)
            settlement.is_short = compared < 0
            settlement.difference_kind = {-1: "less", 0: "none", 1: "more"}[compared]

    def _late_before(self):
        return fields.Datetime.now() - timedelta(days=const.SETTLEMENT_LATE_DAYS)

    @api.depends("status", "period_end")
    def _compute_is_late(self):
        before = self._late_before()
        for settlement in self:
            settlement.is_late = bool(
                settlement.status != CONFIRMED
                and settlement.period_end
                and settlement.period_end < before
            )

    def _search_is_late(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Search late settlements with = or !=."))
        before = self._late_before()
        if (operator == "=") == value:
            return [("status", "!=", CONFIRMED), ("period_end", "<", before)]
        return [
            "|",
            ("status", "=", CONFIRMED),
            "|",
            ("period_end", "=", False),
            ("period_end", ">=", before),
        ]

    # --- The bank ---------------------------------------------------------------

    @api.depends("bank_transfer_id", "company_id", "settlement_date")
    def _compute_statement_line_id(self):
        Line = self.env["account.bank.statement.line"].sudo()
        for settlement in self:
            ref = settlement.bank_transfer_id
            line = Line.browse()
            if ref:
                domain = [
                    ("company_id", "=", settlement.company_id.id),
                    "|",
                    "|",
                    ("payment_ref", "ilike", ref),
                    ("ref", "ilike", ref),
                    ("narration", "ilike", ref),
                ]
                if settlement.settlement_date:
                    # Paid out once it was made: lines from the day before on.
                    since = settlement.settlement_date - timedelta(days=1)
                    domain.append(("date", ">=", since))
                line = Line.search(domain, order="date desc, id desc", limit=1)
            settlement.statement_line_id = line
            settlement.statement_amount = line.amount

    def _search_statement_line_id(self, operator, value):
        """As the ORM searches a many2one: ``= False`` (no bank line), ids, or
        texts matched against the lines' names (``=``, ``in``, ``ilike``...)."""
        if operator in ("=", "!=") and value in (False, None):
            ids = self._centrapay_in_bank()
            return [("id", "in" if operator == "!=" else "not in", ids)]
        negative = operator in NEGATIVE_OPERATORS
        positive = NEGATIVE_OPERATORS.get(operator, operator)
        if positive not in POSITIVE_OPERATORS:
            raise UserError(
                self.env._("Search settlements by bank line with =, in or contains.")
            )
        values = value if isinstance(value, list | tuple) else [value]
        names = [v for v in values if isinstance(v, str)]
        lines = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if positive in ("=", "in"):
            positive = "in" if isinstance(value, list | tuple) else "="
        else:
            lines = []  # a pattern matches names, not ids
        if names:
            # Like the bank line shown (computed as superuser): a POS manager
            # without accounting rights finds it by the name they see.
            Line = self.env["account.bank.statement.line"].sudo()
            criteria = [names] if positive == "in" else names
            for criterion in criteria:
                lines += Line._search(
                    [
                        ("company_id", "in", self.env.companies.ids),
                        ("display_name", positive, criterion),
                    ]
                )
        ids = self._centrapay_in_bank(list(lines)) if lines else []
        return [("id", "not in" if negative else "in", ids)]

    def _centrapay_in_bank(self, line_ids=None):
        """Ids of the settlements whose transfer id a statement line carries
        (one of ``line_ids`` when given): in its label, reference or notes, in
        any case (banks may upper-case references)."""
        self.env["account.bank.statement.line"].flush_model()
        self.env["account.move"].flush_model(["ref", "narration"])
        self.flush_model(["bank_transfer_id", "company_id"])
        self.env.cr.execute(
            SQL(
                """
                SELECT s.id FROM centrapay_settlement s
                 WHERE s.bank_transfer_id IS NOT NULL AND s.bank_transfer_id != ''
                   AND EXISTS (
                       SELECT 1 FROM account_bank_statement_line l
                         JOIN account_move m ON m.id = l.move_id
                        WHERE l.company_id = s.company_id AND %s
                          AND (s.settlement_date IS NULL
                               OR m.date >= s.settlement_date - 1)
                          AND (strpos(lower(l.payment_ref),
                                      lower(s.bank_transfer_id)) > 0
                            OR strpos(lower(m.ref), lower(s.bank_transfer_id)) > 0
                            OR strpos(lower(m.narration::text),
                                      lower(s.bank_transfer_id)) > 0))
                """,
                SQL("TRUE") if line_ids is None else SQL("l.id = ANY(%s)", line_ids),
            )
        )
        return [row[0] for row in self.env.cr.fetchall()]

    # --- Matching with the ledger -----------------------------------------------

    def _centrapay_match(self):
        """Link each settlement to the ledger activities it covers."""
        Activity = self.env["centrapay.payment.activity"].sudo()
        days = {}
        for settlement in self:
            matched = Activity.browse()
            if settlement.settlement_date and settlement.asset_type:
                candidates = Activity.search(
                    [
                        ("merchant_id", "=", settlement.merchant_id),
                        ("asset_type", "=", settlement.asset_type),
                        ("company_id", "=", settlement.company_id.id),
                        "|",
                        ("activity_type", "=", "payment"),
                        ("activity_type", "=", "refund"),
                        ("occurred_at", "<", settlement.period_end),
                        (
                            "occurred_at",
                            ">=",
                            settlement.period_end
                            - timedelta(days=const.SETTLEMENT_MATCH_WINDOW_DAYS),
                        ),
                    ]
                )
                matched = candidates.filtered(
                    lambda act, s=settlement: (
                        act.occurred_at >= s.period_start
                        if act.activity_type == "refund"
                        else _settlement_day(act, days) == s.settlement_date
                    )
                )
            if matched != settlement.activity_ids:
                settlement.activity_ids = [Command.set(matched.ids)]

    def action_centrapay_match(self):
        """Match the ledger again (e.g. after activities came in late)."""
        self.check_access("read")
        self.sudo()._centrapay_match()

    # --- Reading them from Centrapay --------------------------------------------

    @api.model
    def _centrapay_sync_settlements(self, account_or_method, interactive=False):
        """Read the merchant's settlements (E19) and upsert them; return them.

        ``account_or_method``: a ``centrapay.account`` (the engine) or a
        Centrapay ``pos.payment.method``. Pages are read newest first until one
        holds a settlement already stored, once every stored one not yet
        confirmed has been seen again (or is older than the page). Then the
        ledger is matched again to the settlements of the last days.
        """
        method, merchant_id = self._centrapay_source(account_or_method)
        if not method or not merchant_id:
            return self.browse()
        client = method._centrapay_client("cashier" if interactive else "feed")
        company = method.company_id
        open_ones = self.search(
            [("merchant_id", "=", merchant_id), ("status", "!=", CONFIRMED)]
        )
        unseen = set(open_ones.mapped("centrapay_id"))
        open_dates = [d for d in open_ones.mapped("created_at") if d]
        oldest_open = min(open_dates) if open_dates else None
        stored = self.browse()
        page_key, pages = None, 0
        while True:
            page = client.list_settlements(merchant_id, page_key=page_key)
            pages += 1
            records, known = self._centrapay_upsert(page.items, merchant_id, company)
            stored |= records
            unseen -= set(records.mapped("centrapay_id"))
            # Older than every one still open: those not seen are gone.
            past_open = not oldest_open or any(
                r.created_at and r.created_at < oldest_open for r in records
            )
            if (
                not page.next_page_key
                or pages >= const.SETTLEMENT_MAX_PAGES
                or (known and (not unseen or past_open))
            ):
                break
            page_key = page.next_page_key
        recent = fields.Date.today() - timedelta(days=const.SETTLEMENT_REMATCH_DAYS)
        (
            stored
            | self.search(
                [("merchant_id", "=", merchant_id), ("settlement_date", ">=", recent)]
            )
        )._centrapay_match()
        return stored

    @api.model
    def _centrapay_source(self, account_or_method):
        """(Centrapay payment method, merchant id) to read settlements with."""
        if account_or_method._name == "pos.payment.method":
            method = account_or_method.filtered(
                lambda m: m.use_payment_terminal == "centrapay"
            )[:1]
            return method, method.centrapay_merchant_id
        account = account_or_method
        methods = (
            self.env["pos.payment.method"]
            .sudo()
            .search([("use_payment_terminal", "=", "centrapay")])
            .filtered(
                lambda m: (
                    m.sudo().centrapay_api_key
                    and m._centrapay_rate_key() == account.key
                )
            )
        )
        merchant_id = account.merchant_id or next(
            (m.centrapay_merchant_id for m in methods if m.centrapay_merchant_id), None
        )
        method = (
            methods.filtered(lambda m: m.centrapay_merchant_id == merchant_id)[:1]
            or methods[:1]
        )
        return method, merchant_id

    @api.model
    def _centrapay_upsert(self, items, merchant_id, company):
        """Store E19 items; return (their records, whether one was stored before)."""
        ids = [i["id"] for i in items if isinstance(i, dict) and _text(i.get("id"))]
        existing = {
            s.centrapay_id: s for s in self.search([("centrapay_id", "in", ids)])
        }
        known = bool(existing)
        records = self.browse()
        for item in items:
            if not isinstance(item, dict) or not _text(item.get("id")):
                continue
            values = self._centrapay_values(item, company)
            record = existing.get(item["id"])
            if record:
                changed = {
                    k: v
                    for k, v in values.items()
                    if (record[k].id if k == "currency_id" else record[k]) != v
                }
                if changed:
                    record.write(changed)
            else:
                record = self.create(
                    {
                        **values,
                        "centrapay_id": item["id"],
                        "merchant_id": merchant_id,
                        "company_id": company.id,
                    }
                )
                existing[item["id"]] = record
            records |= record
        return records, known

    @api.model
    def _centrapay_values(self, item, company):
        """Field values of one E19 item (what may change is compared on update)."""
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", _text(item.get("currency")))], limit=1)
        ) or company.currency_id
        amount = self.env["centrapay.payment.activity"]._centrapay_amount(
            {"amount": item.get("settlementAmount")}, currency
        )
        created = _datetime(item.get("createdAt"))
        day = created and created.date()
        end = day and datetime.combine(day, time.min)
        return {
            "status": _text(item.get("status"), 64),
            "asset_type": _text(item.get("assetType"), 128),
            "settlement_type": _text(item.get("type"), 64),
            "is_test": item.get("test") is True,
            "amount": amount,
            "currency_id": currency.id,
            "created_at": created or False,
            "created_by": _text(item.get("createdBy"), 256),
            "settled_at": _datetime(item.get("settledAt")),
            "settled_by": _text(item.get("settledBy"), 256),
            "settlement_date": day or False,
            "period_start": end - timedelta(days=1) if end else False,
            "period_end": end or False,
            "bank_account_ref": _text(item.get("settlementBankAccountId"), 128),
            "bank_transfer_id": _text(item.get("settlementBankTransferId"), 128),
        }

    # --- Called by the status engine ------------------------------------------------

    @api.model
    def _centrapay_due_sync(self, key, period=const.SETTLEMENT_SYNC_SECONDS):
        """The engine's hook, each pass per account: read its settlements when
        due (every ``period`` seconds: ``SETTLEMENT_SYNC_SECONDS``, or the
        engine's idle sweep); one query when not.

        Runs in a transaction of its own holding the account row (``SKIP
        LOCKED``: another engine syncing it is left alone). Returns whether it
        read. A refusal or a fault is kept on the account, never raised.
        """
        now = fields.Datetime.now()
        try:
            with self.pool.cursor() as cr:
                cr.execute(
                    lock_rows(
                        "centrapay_account",
                        SQL(
                            """
                            key = %s AND (settlement_next_at IS NULL
                                          OR settlement_next_at <= %s
                                          -- set for a longer period
                                          OR settlement_next_at > %s)
                            """,
                            key,
                            now,
                            now + timedelta(seconds=period),
                        ),
                        no_key=False,
                    ),
                    log_exceptions=False,
                )
                row = cr.fetchone()
                if not row:
                    return False
                env = self.env(cr=cr, su=True)
                account = env["centrapay.account"].browse(row[0])
                values = {
                    "settlement_next_at": now + timedelta(seconds=period),
                    "settlement_error": False,
                }
                try:
                    with cr.savepoint():
                        env["centrapay.settlement"]._centrapay_sync_settlements(account)
                    values["settlement_read_at"] = now
                except cp_errors.CentrapayBudgetExhausted:
                    values.update(
                        settlement_next_at=now + timedelta(seconds=10),
                        settlement_error=account.settlement_error,
                    )
                except (cp_errors.CentrapayError, UserError) as exc:
                    message = (
                        env["centrapay.payment.request"]._centrapay_error_message(exc)
                        if isinstance(exc, cp_errors.CentrapayError)
                        else str(exc)
                    )
                    values["settlement_error"] = message[:500]
                    _logger.info("Centrapay settlements of account %s: %r", key, exc)
                except (
                    psycopg2.errors.SerializationFailure,
                    psycopg2.OperationalError,
                ):
                    raise
                except Exception as exc:  # noqa: BLE001 (never stall the engine)
                    _logger.exception("Centrapay settlements of account %s failed", key)
                    values["settlement_error"] = str(exc)[:500]
                account.write(values)
                return True
        except psycopg2.errors.SerializationFailure:
            return False

    # --- Back office ----------------------------------------------------------------

    def action_centrapay_sync(self):
        """Read the settlements of every Centrapay method the manager runs now.

        Not ``api.model``: the list's header button sends the selected ids.
        """
        methods = self.env["pos.payment.method"].search(
            [
                ("use_payment_terminal", "=", "centrapay"),
                ("company_id", "in", self.env.companies.ids),
            ]
        )
        done = set()
        for method in methods:
            method._centrapay_check_manager()
            key = (method._centrapay_rate_key(), method.centrapay_merchant_id)
            if key in done or not method.centrapay_merchant_id:
                continue
            done.add(key)
            account = self.env["centrapay.account"].sudo()._centrapay_for_key(key[0])
            # Wait for an engine reading them now, and keep it off meanwhile.
            self.env.cr.execute(
                lock_rows(
                    account._table, SQL("id = %s", account.id), no_key=False, wait=True
                )
            )
            try:
                self.sudo()._centrapay_sync_settlements(method.sudo(), interactive=True)
            except cp_errors.CentrapayError as exc:
                raise UserError(
                    self.env["centrapay.payment.request"]._centrapay_error_message(exc)
                ) from exc
        return True


class CentrapayAccount(models.Model):
    _inherit = "centrapay.account"

    settlement_next_at = fields.Datetime(
        readonly=True, help="When the engine reads this account's settlements next."
    )
    settlement_read_at = fields.Datetime(readonly=True)
    settlement_error = fields.Char(readonly=True)


def _datetime(value):
    """A Centrapay timestamp as Odoo stores it (whole seconds), or False."""
    parsed = parse_timestamp(value)
    return parsed.replace(microsecond=0) if parsed else False


def _text(value, limit=64):
    return value[:limit] if isinstance(value, str) and value else False


def _settlement_day(activity, cache):
    """The settlement date of a payment: its request's ``paidBy`` says it for
    the asset (doc §6.13); without one, the day after the payment (UTC)."""
    request = activity.request_id
    if request.paid_by_json:
        if request.id not in cache:
            try:
                paid_by = json.loads(request.paid_by_json)
            except ValueError:
                paid_by = {}
            cache[request.id] = {
                total.get("type"): parse_timestamp(total.get("settlementDate"))
                for total in (paid_by or {}).get("assetTotals") or []
                if isinstance(total, dict)
            }
        when = cache[request.id].get(activity.asset_type)
        if when:
            return when.date()
    return (activity.occurred_at + timedelta(days=1)).date()

import hashlib
import logging
import time
from contextlib import contextmanager

import psycopg2.errors
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED, STATUS_READY

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import const
from ..centrapay import retry
from ..centrapay.errors import CentrapayBudgetExhausted

_logger = logging.getLogger(__name__)

_TAKE = """
UPDATE centrapay_rate_limit
   SET calls = ARRAY(SELECT c FROM unnest(calls) AS c WHERE c > %(since)s)
               || %(now)s::double precision
 WHERE key = %(key)s
   AND COALESCE(blocked_until, 0) <= %(now)s
   AND (SELECT count(*) FROM unnest(calls) AS c WHERE c > %(since)s) < %(limit)s
RETURNING id
"""

_SESSIONS_ACTIVE = """
SELECT count(*) FROM centrapay_rate_limit
 WHERE key LIKE %(prefix)s AND key != %(key)s
   AND EXISTS (SELECT 1 FROM unnest(calls) AS c WHERE c > %(since)s)
"""

_STATE = """
SELECT COALESCE(blocked_until, 0),
       (SELECT min(c) FROM unnest(calls) AS c WHERE c > %(since)s)
  FROM centrapay_rate_limit WHERE key = %(key)s
"""


@contextmanager
def read_committed_cursor(pool):
    """A cursor of its own whose transaction reads committed rows.

    Under Odoo's REPEATABLE READ, two processes that update one budget row at
    the same instant make one of them fail to serialize, and 50 tills that
    press Pay together retry each other in a storm. Under READ COMMITTED an
    UPDATE waits for the other's commit, then checks its WHERE again on the
    row as it now is: the budget stays exact and nobody retries. (A test
    cursor shares the test's transaction, whose isolation is already set.)
    """
    with pool.cursor() as cr:
        connection = getattr(cr, "_cnx", None)
        if connection is not None and connection.status == STATUS_READY:
            connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
        yield cr


class CentrapayRateLimit(models.Model):
    """The request budget of one Centrapay account, shared by every Odoo process.

    Centrapay allows 200 requests a minute per account (doc §3.5).
    Each HTTP attempt, retries, lookups and pages included, takes a slot in a
    sliding 60 s window kept on this row, in a short transaction of its own:
    the cashier's calls may fill the window up to ``RATE_LIMIT_PER_MINUTE``,
    the reads with a reason up to ``RATE_POLL_LIMIT_PER_MINUTE``, the activity
    feed up to ``RATE_FEED_LIMIT_PER_MINUTE`` and routine direct reads up to
    ``RATE_READ_LIMIT_PER_MINUTE``, so polls always yield to the cashier and
    the feed to the reads it points at.
    A 429 blocks the account for its ``Retry-After``.

    Each POS session gets a fair share of the cashier's part: with ``n`` other
    sessions of the account calling in the window, one session may take
    ``RATE_LIMIT_PER_MINUTE / (n + 2)`` of it (at least
    ``RATE_SESSION_MIN_PER_MINUTE``), so one till, or a script with a
    cashier's login, never starves the others. A session's share is a row of
    its own (key ``<account>/session/<id>``), taken with the account's slot in
    one transaction.
    """

    _name = "centrapay.rate.limit"
    _description = "Centrapay Rate Budget"

    key = fields.Char(required=True, index=True, readonly=True)
    blocked_until = fields.Float(
        readonly=True, help="Unix time until which Centrapay asked us to wait (429)."
    )

    company_ids = fields.Many2many(
        "res.company",
        string="Companies",
        compute="_compute_company_ids",
        search="_search_company_ids",
        help="The companies of the Centrapay methods that use this account.",
    )

    _sql_constraints = [("key_unique", "unique(key)", "One budget per account.")]

    @api.model
    def _centrapay_companies_by_key(self):
        """{account key: companies of the Centrapay methods using it}."""
        methods = (
            self.env["pos.payment.method"]
            .sudo()
            .with_context(active_test=False)
            .search([("use_payment_terminal", "=", "centrapay")])
        )
        by_key = {}
        for method in methods:
            if method.centrapay_api_key:
                key = self._key_for(method.centrapay_api_key)
                by_key[key] = by_key.get(key, method.company_id) | method.company_id
        return by_key

    @api.depends("key")
    def _compute_company_ids(self):
        by_key = self._centrapay_companies_by_key()
        for row in self:
            row.company_ids = by_key.get(row.key, self.env["res.company"])

    def _search_company_ids(self, operator, value):
        """Rows of an account that a method of these companies uses (for the
        company rule: keys are shared, so there is no single company)."""
        if operator not in ("in", "="):
            raise UserError(self.env._("Search Centrapay accounts by company with in."))
        wanted = set(value if isinstance(value, list | tuple) else [value])
        keys = [
            key
            for key, companies in self._centrapay_companies_by_key().items()
            if wanted & set(companies.ids)
        ]
        return [("key", "in", keys)]

    def init(self):
        # The window's call times: an array column the ORM does not manage, so
        # that one UPDATE checks and takes a slot atomically.
        self.env.cr.execute(
            "ALTER TABLE centrapay_rate_limit "
            "ADD COLUMN IF NOT EXISTS calls double precision[] NOT NULL DEFAULT '{}'"
        )

    @api.model
    def _key_for(self, api_key):
        # A digest, so the key itself is never stored twice.
        return hashlib.sha256((api_key or "").encode()).hexdigest()[:32]

    @api.model
    def _take(self, key, rules, session_id=None):
        """Take a slot or raise CentrapayBudgetExhausted (nothing was sent).

        ``rules``: the call's retry policy (``centrapay/retry.py``): whose share
        of the window it may fill, and how long it may wait for a slot (the
        engine's calls give up at once). ``session_id``: the POS session a
        cashier's call is for, which it may take only its fair share of (see
        class doc).
        """
        limit = {
            "cashier": const.RATE_LIMIT_PER_MINUTE,
            "urgent": const.RATE_POLL_LIMIT_PER_MINUTE,
            "feed": const.RATE_FEED_LIMIT_PER_MINUTE,
            "read": const.RATE_READ_LIMIT_PER_MINUTE,
        }[rules.budget]
        deadline = time.monotonic() + rules.wait
        cashier = rules.budget == "cashier"
        session_key = f"{key}/session/{session_id}" if cashier and session_id else None
        while True:
            taken, retry_in = self._try_take(key, limit, session_key)
            if taken:
                return
            if time.monotonic() + retry_in > deadline:
                raise CentrapayBudgetExhausted(retry_in)
            time.sleep(max(0.05, retry_in))

    @api.model
    def _try_take(self, key, limit, session_key=None):
        """One attempt: (True, 0) or (False, seconds until a slot may free)."""
        now = time.time()
        args = {"key": key, "now": now, "since": now - 60, "limit": limit}
        # Its own cursor: the slot is spent even if the caller rolls back, and
        # the row is locked for a statement, never for an HTTP call.
        for _attempt in range(const.DB_CONFLICT_RETRIES):
            try:
                with read_committed_cursor(self.pool) as cr:
                    for row_key in filter(None, (key, session_key)):
                        cr.execute(
                            "INSERT INTO centrapay_rate_limit (key) VALUES (%s) "
                            "ON CONFLICT (key) DO NOTHING",
                            [row_key],
                            log_exceptions=False,
                        )
                    if session_key:
                        share = self._session_share(cr, key, session_key, now)
                        cr.execute(_TAKE, share, log_exceptions=False)
                        if not cr.fetchone():
                            # This session has had its share: others may call.
                            cr.execute(_STATE, share, log_exceptions=False)
                            blocked_until, oldest = cr.fetchone() or (0, None)
                            cr.rollback()
                            return False, max(0.0, (oldest or now) + 60 - now)
                    cr.execute(_TAKE, args, log_exceptions=False)
                    if cr.fetchone():
                        return True, 0.0
                    cr.execute(_STATE, args, log_exceptions=False)
                    blocked_until, oldest = cr.fetchone() or (0, None)
                    cr.rollback()  # nor the session's slot
            except psycopg2.errors.SerializationFailure:
                # Another process took a slot at the same instant: try again
                # at once; this never costs a request a backoff.
                continue
            if blocked_until > now:
                return False, blocked_until - now
            return False, max(0.0, (oldest or now) + 60 - now)
        return False, 0.1

    @api.model
    def _session_share(self, cr, key, session_key, now):
        """The arguments of _TAKE for a session's fair share of the window."""
        since = now - 60
        cr.execute(
            _SESSIONS_ACTIVE,
            {"prefix": f"{key}/session/%", "key": session_key, "since": since},
            log_exceptions=False,
        )
        others = cr.fetchone()[0]
        limit = max(
            const.RATE_SESSION_MIN_PER_MINUTE,
            const.RATE_LIMIT_PER_MINUTE // (others + 2),
        )
        return {"key": session_key, "now": now, "since": since, "limit": limit}

    @api.model
    def _block(self, key, retry_after):
        """Centrapay answered 429: no call for this account until it allows."""
        until = time.time() + max(1.0, float(retry_after or retry.PAUSE_429_SECONDS))
        for _attempt in range(const.DB_CONFLICT_RETRIES):
            try:
                with read_committed_cursor(self.pool) as cr:
                    cr.execute(
                        "UPDATE centrapay_rate_limit SET blocked_until = "
                        "GREATEST(COALESCE(blocked_until, 0), %s) WHERE key = %s",
                        [until, key],
                        log_exceptions=False,
                    )
                return
            except psycopg2.errors.SerializationFailure:
                continue
        _logger.info("Could not record a Centrapay 429 pause for account %s", key)

    @api.model
    def _calls_in_window(self, key):
        """How many calls the account made in the last 60 s."""
        since = time.time() - 60
        with self.pool.cursor() as cr:
            cr.execute(
                "SELECT (SELECT count(*) FROM unnest(calls) AS c WHERE c > %s) "
                "FROM centrapay_rate_limit WHERE key = %s",
                [since, key],
            )
            row = cr.fetchone()
        return row[0] if row else 0

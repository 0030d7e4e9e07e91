import hashlib
import time

from odoo import api, fields, models

from .. import const


class CentrapayRateLimit(models.Model):
    """A token bucket per Centrapay account, shared by every Odoo worker.

    Centrapay allows 200 requests a minute per account (SPEC §3.5). Each call
    takes a token in a short transaction of its own, so workers and the cron see
    one budget. Polls keep a reserve for the cashier's own calls.
    """

    _name = "centrapay.rate.limit"
    _description = "Centrapay Rate Budget"

    key = fields.Char(required=True, index=True, readonly=True)
    tokens = fields.Float(readonly=True)
    refilled_at = fields.Float(readonly=True, help="Unix time of the last refill.")

    _sql_constraints = [("key_unique", "unique(key)", "One budget per account.")]

    @api.model
    def _key_for(self, api_key):
        # A digest, so the key itself is never stored twice.
        return hashlib.sha256((api_key or "").encode()).hexdigest()[:32]

    @api.model
    def _take(self, key, interactive, wait=2.0):
        """Spend one token; True if it was there. The cashier waits up to ``wait`` s."""
        floor = 1 if interactive else 1 + const.RATE_INTERACTIVE_RESERVE
        deadline = time.monotonic() + (wait if interactive else 0)
        while True:
            if self._update(key, floor):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    @api.model
    def _update(self, key, floor):
        """Refill, then take a token if at least ``floor`` are there."""
        rate = const.RATE_LIMIT_PER_MINUTE / 60.0
        now = time.time()
        # A separate cursor: the token is spent even if the caller rolls back,
        # and the row lock lasts milliseconds, not the length of an HTTP call.
        with self.pool.cursor() as cr:
            cr.execute(
                """
                INSERT INTO centrapay_rate_limit (key, tokens, refilled_at)
                VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING
                """,
                [key, const.RATE_BURST, now],
            )
            cr.execute(
                """
                WITH cur AS (
                    SELECT key,
                           LEAST(%(burst)s, tokens + (%(now)s - refilled_at) * %(rate)s)
                               AS available
                      FROM centrapay_rate_limit
                     WHERE key = %(key)s
                       FOR UPDATE
                )
                UPDATE centrapay_rate_limit AS bucket
                   SET tokens = cur.available - CASE WHEN cur.available >= %(floor)s
                                                     THEN 1 ELSE 0 END,
                       refilled_at = %(now)s
                  FROM cur
                 WHERE bucket.key = cur.key
             RETURNING cur.available >= %(floor)s
                """,
                {
                    "burst": const.RATE_BURST,
                    "now": now,
                    "rate": rate,
                    "floor": floor,
                    "key": key,
                },
            )
            row = cr.fetchone()
        return bool(row and row[0])

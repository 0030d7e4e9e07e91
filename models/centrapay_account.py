from datetime import timedelta

from odoo import api, fields, models

from .. import const


class CentrapayAccount(models.Model):
    """One Centrapay account (one API key) as the status engine follows it.

    Holds the merchant whose activity feed (E10) the engine reads, where the
    feed was left, and when the engine last passed over the account. Only the
    engine writes it, under a row lock that the other engines skip.
    """

    _name = "centrapay.account"
    _description = "Centrapay Account"

    key = fields.Char(required=True, index=True, readonly=True)
    merchant_id = fields.Char(
        readonly=True, help="The merchant whose activities are followed."
    )
    feed_next_at = fields.Datetime(readonly=True)
    feed_resume_key = fields.Char(
        readonly=True, help="An older feed page still to read after a busy moment."
    )
    feed_due_ids = fields.Json(
        string="Requests Still to Make Due",
        readonly=True,
        help="Requests the feed pointed at while another transaction held them "
        "(a read in flight): made due at a later pass.",
    )
    feed_ok = fields.Boolean(readonly=True)
    feed_error = fields.Char(readonly=True)
    feed_read_at = fields.Datetime(readonly=True)
    engine_seen_at = fields.Datetime(
        readonly=True, help="When the status engine last passed over this account."
    )
    polled_at = fields.Datetime(
        readonly=True,
        help="When a till's status poll last passed over this account in the "
        "engine's stead (no cron worker).",
    )

    company_ids = fields.Many2many(
        "res.company",
        string="Companies",
        compute="_compute_company_ids",
        search="_search_company_ids",
        help="The companies of the Centrapay methods that use this account.",
    )

    _sql_constraints = [("key_unique", "unique(key)", "One row per account.")]

    @api.depends("key")
    def _compute_company_ids(self):
        by_key = self.env["centrapay.rate.limit"]._centrapay_companies_by_key()
        for account in self:
            account.company_ids = by_key.get(account.key, self.env["res.company"])

    def _search_company_ids(self, operator, value):
        return self.env["centrapay.rate.limit"]._search_company_ids(operator, value)

    @api.model
    def _centrapay_for_key(self, key):
        """The account row of a key, created when missing (concurrency-safe)."""
        account = self.search([("key", "=", key)], limit=1)
        if account:
            return account
        # Two processes inserting the first row of an account at once: the
        # loser's transaction fails to serialize, and its caller's own retry
        # (or next pass) finds the row. An expected race, not an error to log.
        self.env.cr.execute(
            """
            INSERT INTO centrapay_account (key, create_uid, write_uid, create_date,
                                           write_date)
            VALUES (%s, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
            ON CONFLICT (key) DO NOTHING
            """,
            [key, self.env.uid, self.env.uid],
            log_exceptions=False,
        )
        return self.search([("key", "=", key)], limit=1)

    def _centrapay_engine_alive(self):
        """Whether the engine passed over this account recently."""
        self.ensure_one()
        recent = fields.Datetime.now() - timedelta(seconds=const.ENGINE_STALE_SECONDS)
        return bool(self.engine_seen_at and self.engine_seen_at >= recent)

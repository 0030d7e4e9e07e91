import json
from datetime import datetime, time, timedelta
from decimal import Decimal

from odoo.api import call_kw
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import CASHIER, MANAGER, CentrapayCommon

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@tagged("post_install", "-at_install")
class TestCentrapaySettlement(CentrapayCommon):
    """Settlements read from the sandbox (E19), matched to the ledger and the bank.

    Each test starts from a reset sandbox and moves its clock back to a past
    day, so that its settlements' periods are in Odoo's past.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Settlement = cls.env["centrapay.settlement"]
        cls.manager = cls._user("settlement_manager", MANAGER)
        cls.cashier = cls._user("settlement_cashier", CASHIER)
        other = cls.env["res.company"].create({"name": "Other Settlement Company"})
        cls.other_manager = cls._user("settlement_other_manager", MANAGER, other)

    def setUp(self):
        super().setUp()
        self.control.reset()  # other tests' payments, settlements and clock

    # --- helpers -------------------------------------------------------------------

    def sandbox_now(self):
        return datetime.strptime(self.control.clock()["now"], "%Y-%m-%dT%H:%M:%S.%fZ")

    def go_to(self, when):
        """Move the sandbox clock (back or forward) to ``when``, naive UTC."""
        self.control.advance_clock((when - self.sandbox_now()).total_seconds())

    def midnight(self, days_ago):
        """Midnight UTC ``days_ago`` days before today."""
        return datetime.combine(self.sandbox_now().date(), time.min) - days_ago * DAY

    def paid(self, amount, payment_uuid):
        """A request of the POS, paid by the patron."""
        state = self.create_request(amount, payment_uuid=payment_uuid)
        self.control.pay(state["centrapay_id"])
        request = self.record(state)
        request._centrapay_refresh()
        self.assertEqual(request.status, "paid")
        return request

    def refund_outside(self, request, amount, external_ref):
        """A refund made outside Odoo (it reaches Odoo through the ledger)."""
        self.sandbox_client().refund_payment_request(
            request.centrapay_id,
            amount=Decimal(amount),
            currency="NZD",
            external_ref=external_ref,
        )

    def settlement(self, when):
        """The settlement made at midnight ``when`` (its settlement date)."""
        found = self.Settlement.search([("settlement_date", "=", when.date())])
        self.assertEqual(len(found), 1, f"one settlement dated {when.date()}")
        return found

    def of_type(self, records, kind):
        return records.activity_ids.filtered(lambda a: a.activity_type == kind)

    # --- tests -------------------------------------------------------------------

    def test_settlements_follow_payments_and_refunds(self):
        day = self.midnight(2)
        self.go_to(day + HOUR)
        first = self.paid(20.0, "s-1")
        second = self.paid(12.5, "s-2")
        self.refund_outside(first, "5.00", "s-r1")
        client = self.sandbox_client()
        outside = client.create_payment_request(
            config_id=self.sandbox.merchant_config_id,
            amount=Decimal("7.00"),
            currency="NZD",
            external_ref="made-outside-odoo",
        )
        self.control.pay(outside["id"])
        self.go_to(day + DAY + HOUR)
        self.refund_outside(second, "2.50", "s-r2")  # the next day's settlement
        self.go_to(day + 2 * DAY + HOUR)
        self.engine_pass()  # the ledger (feed), then the settlements (E19)

        settled = self.settlement(day + DAY)
        self.assertEqual(settled.status, "confirmed")
        self.assertEqual(settled.asset_type, "centrapay.nzd.test")
        self.assertEqual(settled.currency_id.name, "NZD")
        self.assertAlmostEqual(settled.amount, 20 + 12.5 + 7 - 5)
        self.assertAlmostEqual(settled.expected_amount, settled.amount)
        self.assertFalse(settled.is_short or settled.is_late)
        self.assertTrue(settled.bank_transfer_id and settled.settled_at)
        self.assertEqual(settled.period_start, day)
        self.assertEqual(settled.period_end, day + DAY)
        paid_by = json.loads(first.paid_by_json)["assetTotals"][0]
        self.assertEqual(paid_by["settlementDate"][:10], str(settled.settlement_date))
        payments = self.of_type(settled, "payment")
        self.assertEqual(payments.request_id, first | second)
        self.assertEqual(len(payments), 3)  # and the one made outside Odoo
        self.assertEqual(self.of_type(settled, "refund").external_ref, "s-r1")

        awaiting = self.settlement(day + 2 * DAY)
        self.assertEqual(awaiting.status, "awaiting-confirmation")
        self.assertAlmostEqual(awaiting.amount, -2.5)
        self.assertAlmostEqual(awaiting.expected_amount, -2.5)
        self.assertEqual(self.of_type(awaiting, "refund").external_ref, "s-r2")
        self.assertFalse(awaiting.is_short or awaiting.is_late)

        # The engine's hook read them once; it is not due again for a while.
        self.assertEqual(len(self.calls("GET", "/settlements")), 1)
        key = self.method._centrapay_rate_key()
        self.assertFalse(self.Settlement._centrapay_due_sync(key))
        self.assertEqual(len(self.calls("GET", "/settlements")), 1)
        account = self.env["centrapay.account"].search([("key", "=", key)])
        self.assertTrue(account.settlement_read_at)
        self.assertFalse(account.settlement_error)

        # Later: the awaiting one is confirmed, found again and updated once.
        self.go_to(day + 3 * DAY + HOUR)
        account.sudo().settlement_next_at = False
        self.engine_pass()
        self.assertEqual(awaiting.status, "confirmed")
        self.assertEqual(len(self.Settlement.search([])), 2)

    def test_short_and_late_settlements_are_flagged(self):
        day = self.midnight(7)
        self.go_to(day + HOUR)
        self.paid(30.0, "late-1")
        self.go_to(day + DAY + HOUR)
        self.paid(10.0, "short-1")
        self.go_to(day + 2 * DAY + HOUR)
        newer, older = self.control.settlements()
        # Never confirmed, days after its period: late. Settled 9.00 of 10.00: short.
        self.control.force_settlement(older["id"], status="awaiting-confirmation")
        self.control.force_settlement(newer["id"], status="confirmed", amount=900)
        self.engine_pass()

        late = self.Settlement.search([("centrapay_id", "=", older["id"])])
        short = self.Settlement.search([("centrapay_id", "=", newer["id"])])
        self.assertTrue(late.is_late)
        self.assertFalse(late.is_short)
        self.assertAlmostEqual(late.expected_amount, 30)
        self.assertTrue(short.is_short)
        self.assertFalse(short.is_late)
        self.assertAlmostEqual(short.expected_amount, 10)
        self.assertAlmostEqual(short.difference, -1)
        self.assertEqual(self.Settlement.search([("is_late", "=", True)]), late)
        self.assertEqual(self.Settlement.search([("is_short", "=", True)]), short)
        self.assertEqual(self.Settlement.search([("is_late", "=", False)]), short)
        self.assertEqual(self.Settlement.search([("is_late", "!=", True)]), short)

    def test_a_payment_counts_in_the_settlement_its_paid_by_names(self):
        day = self.midnight(3)
        self.go_to(day + HOUR)
        moved = self.paid(15.0, "moved")
        self.go_to(day + DAY + HOUR)
        self.paid(4.0, "stays")
        self.go_to(day + 2 * DAY + HOUR)
        self.engine_pass()
        first, second = self.settlement(day + DAY), self.settlement(day + 2 * DAY)
        payment = self.of_type(moved, "payment")
        self.assertIn(payment, first.activity_ids)
        # Centrapay names the settlement: a later settlementDate moves it there.
        paid_by = json.loads(moved.paid_by_json)
        paid_by["assetTotals"][0]["settlementDate"] = (
            f"{second.settlement_date}T00:00:00Z"
        )
        moved.sudo().paid_by_json = json.dumps(paid_by)
        (first | second).with_user(self.manager).action_centrapay_match()
        self.assertNotIn(payment, first.activity_ids)
        self.assertIn(payment, second.activity_ids)
        self.assertAlmostEqual(second.expected_amount, 19)
        self.assertTrue(second.is_short)
        self.assertFalse(first.is_short)  # settled more than expected

    def test_bank_statement_line_carries_the_transfer_id(self):
        # The demo's history: past days of sales made outside Odoo.
        newer, older = self.control.seed_settlements(days=2)
        self.engine_pass()
        newer = self.Settlement.search([("centrapay_id", "=", newer["id"])])
        older = self.Settlement.search([("centrapay_id", "=", older["id"])])
        for settlement in newer | older:
            self.assertTrue(settlement.activity_ids)
            self.assertAlmostEqual(settlement.expected_amount, settlement.amount)
        self.assertFalse(newer.statement_line_id)
        Line = self.env["account.bank.statement.line"]
        by_label = Line.create(
            {
                "journal_id": self.journal.id,
                "date": older.settlement_date + DAY,
                # Banks may upper-case references.
                "payment_ref": f"CENTRAPAY {older.bank_transfer_id.upper()} NZD",
                "amount": older.amount,
            }
        )
        by_ref = Line.create(
            {
                "journal_id": self.journal.id,
                "date": newer.settlement_date,
                "payment_ref": "Centrapay settlement",
                "ref": newer.bank_transfer_id,
                "amount": newer.amount,
            }
        )
        Line.create(
            {
                "journal_id": self.journal.id,
                "date": newer.settlement_date,
                "payment_ref": "Another deposit",
                "amount": 12.0,
            }
        )
        (newer | older).invalidate_recordset(["statement_line_id", "statement_amount"])
        self.assertEqual(older.statement_line_id, by_label)
        self.assertEqual(newer.statement_line_id, by_ref)
        self.assertAlmostEqual(older.statement_amount, older.amount)
        self.assertEqual(
            self.Settlement.search([("statement_line_id", "!=", False)]), newer | older
        )
        by_ref.unlink()
        self.assertEqual(
            self.Settlement.search([("statement_line_id", "=", False)]), newer
        )
        # A POS manager without accounting rights still sees the bank line.
        self.assertEqual(older.with_user(self.manager).statement_line_id, by_label)

    def test_search_by_bank_line_answers_as_a_many2one(self):
        newer, older = self.control.seed_settlements(days=2)
        self.engine_pass()
        older = self.Settlement.search([("centrapay_id", "=", older["id"])])
        newer = self.Settlement.search([("centrapay_id", "=", newer["id"])])
        line = self.env["account.bank.statement.line"].create(
            {
                "journal_id": self.journal.id,
                "date": older.settlement_date + DAY,
                "payment_ref": f"CENTRAPAY {older.bank_transfer_id}",
                "amount": older.amount,
            }
        )
        name = line.display_name
        Settlement = self.Settlement.with_user(self.manager)
        for domain, expected in (
            ([("statement_line_id", "=", "abc")], []),
            ([("statement_line_id", "in", ["abc"])], []),
            ([("statement_line_id", "!=", "abc")], newer | older),
            ([("statement_line_id", "not in", ["abc"])], newer | older),
            ([("statement_line_id", "=", name)], older),
            ([("statement_line_id", "in", [name, "abc"])], older),
            ([("statement_line_id", "ilike", name[2:])], older),
            ([("statement_line_id", "not ilike", name)], newer),
            ([("statement_line_id", "!=", name)], newer),
            ([("statement_line_id", "=", line.id)], older),
            ([("statement_line_id", "in", [line.id])], older),
            ([("statement_line_id", "not in", [line.id])], newer),
        ):
            with self.subTest(domain=domain):
                self.assertEqual(
                    Settlement.search(domain),
                    Settlement.browse(expected.ids if expected else []),
                )

    def test_read_from_centrapay_button_works_for_a_manager(self):
        """The list's header button, as the web client calls it: with the ids
        of the selected rows, none or some."""
        self.control.seed_settlements(days=1)
        Settlement = self.Settlement.with_user(self.manager)
        self.assertTrue(call_kw(Settlement, "action_centrapay_sync", [[]], {}))
        settlements = Settlement.search([])
        self.assertEqual(len(settlements), 1)
        self.assertEqual(settlements.company_id, self.method.company_id)
        self.assertTrue(
            call_kw(Settlement, "action_centrapay_sync", [settlements.ids], {})
        )
        self.assertEqual(Settlement.search([]), settlements)
        with self.assertRaises(AccessError):
            call_kw(
                self.Settlement.with_user(self.cashier),
                "action_centrapay_sync",
                [[]],
                {},
            )

    def test_settlements_show_labels_and_explain_their_differences(self):
        newer, older = self.control.seed_settlements(days=2)
        self.control.force_settlement(newer["id"], status="awaiting-confirmation")
        self.control.force_settlement(
            older["id"], amount=int(older["settlementAmount"]) + 6054
        )
        self.engine_pass()
        Settlement = self.Settlement.with_user(self.manager)
        newer = Settlement.search([("centrapay_id", "=", newer["id"])])
        older = Settlement.search([("centrapay_id", "=", older["id"])])
        labels = dict(Settlement._fields["state"]._description_selection(self.env))
        self.assertEqual(newer.state, "awaiting-confirmation")
        self.assertEqual(labels[newer.state], "Awaiting Confirmation")
        self.assertEqual(older.state, "confirmed")
        self.assertEqual(newer.asset_type, "centrapay.nzd.test")
        self.assertEqual(newer.asset_label, "Centrapay NZD (test)")
        self.assertIn("Centrapay NZD (test)", newer.name)
        self.assertEqual(newer.difference_kind, "none")
        self.assertFalse(newer.difference_note)
        self.assertAlmostEqual(older.difference, 60.54)
        self.assertEqual(older.difference_kind, "more")
        self.assertIn(
            "60.54 more than the payments Odoo matched", older.difference_note
        )
        self.assertEqual(Settlement.search([("difference_kind", "=", "more")]), older)
        self.control.force_settlement(older.centrapay_id, amount=100)
        Settlement.action_centrapay_sync()
        older.invalidate_recordset()
        self.assertEqual(older.difference_kind, "less")
        self.assertTrue(older.is_short)
        self.assertIn("less than the payments Odoo matched", older.difference_note)
        # The screens show the labels, not Centrapay's raw values.
        views = Settlement.get_views([(False, "list"), (False, "form")])["views"]
        list_arch = views["list"]["arch"]
        for shown in ('name="state"', 'name="asset_label"', 'name="difference_kind"'):
            self.assertIn(shown, list_arch)
        self.assertNotIn('<field name="status"', list_arch)
        self.assertIn('name="difference_note"', views["form"]["arch"])

    def test_who_sees_and_reads_settlements(self):
        self.control.seed_settlements(days=1)
        self.Settlement.with_user(self.manager).action_centrapay_sync()
        settlements = self.Settlement.search([])
        self.assertEqual(len(settlements), 1)
        self.assertEqual(settlements.company_id, self.method.company_id)
        self.assertEqual(
            self.Settlement.with_user(self.manager).search([]), settlements
        )
        self.assertFalse(self.Settlement.with_user(self.other_manager).search([]))
        with self.assertRaises(AccessError):
            self.Settlement.with_user(self.cashier).search([])
        with self.assertRaises(AccessError):
            self.Settlement.with_user(self.cashier).action_centrapay_sync()
        with self.assertRaises(AccessError):
            settlements.with_user(self.manager).write({"amount": 1})

    def test_a_refusal_is_kept_and_shown_never_raised_in_the_engine(self):
        self.control.seed_settlements(days=1)
        self.control.add_fault(
            kind="status", status=403, message="Forbidden", path="/api/merchants/"
        )
        self.engine_pass()
        account = self.env["centrapay.account"].search(
            [("key", "=", self.method._centrapay_rate_key())]
        )
        self.assertTrue(account.settlement_error)
        self.assertTrue(account.feed_ok)  # the rest of the engine went on
        self.assertFalse(self.Settlement.search([]))
        self.control.add_fault(
            kind="status", status=403, message="Forbidden", path="/api/merchants/"
        )
        with self.assertRaises(UserError):
            self.Settlement.with_user(self.manager).action_centrapay_sync()

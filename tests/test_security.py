from decimal import Decimal

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import TwoCompanyCommon, centrapay_method_vals


@tagged("post_install", "-at_install")
class TestCentrapayAuthorization(TwoCompanyCommon):
    """Real users of each group, in two companies; never the superuser."""

    # --- 1. Test connection ---

    def test_only_managers_of_the_company_test_the_connection(self):
        for user in (self.portal, self.internal, self.cashier_a, self.manager_b):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.method.with_user(user).action_centrapay_test_connection()
        self.assertFalse(self.calls())
        key = self.method._centrapay_rate_key()
        before = self.env["centrapay.rate.limit"]._calls_in_window(key)
        action = self.method.with_user(
            self.manager_a
        ).action_centrapay_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        # It spends from the account's budget like every other call: one read
        # for the key and the merchant id, one for the merchant config.
        self.assertEqual(
            self.env["centrapay.rate.limit"]._calls_in_window(key), before + 2
        )

    # --- 2. Requests of another company, method or session ---

    def test_a_cashier_cannot_reach_another_company_request(self):
        state_b = self.as_cashier(self.cashier_b, self.method_b)
        self.assertEqual(state_b.get("status"), "new", state_b)
        # Through company A's method and session: not that request.
        for call in ("centrapay_get_status", "centrapay_cancel_request"):
            with self.subTest(call=call), self.assertRaises(UserError):
                getattr(self.method.with_user(self.cashier_a), call)(
                    state_b["centrapay_id"], self.session.id
                )
            # Through company B's method: not cashier A's company.
            with self.subTest(call=call), self.assertRaises(AccessError):
                getattr(self.method_b.with_user(self.cashier_a), call)(
                    state_b["centrapay_id"], self.session_b.id
                )
        self.assertFalse(self.calls("POST", "/void"))
        self.assertEqual(self.record(state_b).status, "new")

    def test_a_cashier_needs_an_open_session_of_the_method(self):
        with self.assertRaises(AccessError):
            self.as_cashier(self.cashier_a, self.method, session=self.session_b)
        with self.assertRaises(AccessError):
            self.as_cashier(self.internal, self.method)
        with self.assertRaises(AccessError):
            self.as_cashier(self.portal, self.method)
        self.assertFalse(self.Request.search([("pos_payment_uuid", "=", "sec-line")]))

    def test_the_farmlands_quote_checks_its_caller_first(self):
        """A quote decodes the code at Centrapay (E17): only a cashier of the
        method's company, in an open session of it, gets that far."""
        self.method.sudo().centrapay_farmlands_discount = 5.0

        def quote(user, method, session):
            return (
                method.with_user(user)
                .with_company(method.company_id)
                .centrapay_farmlands_discount_quote(
                    {
                        "amount": 2.0,
                        "payment_uuid": "sec-line",
                        "order_uuid": "sec-order",
                        "order_name": "Order SEC",
                        "session_id": session.id,
                        "barcode": "424242424",
                        "line_items": [{"name": "Pie", "qty": 1, "price": 2.0}],
                    }
                )
            )

        for user, method, session in (
            (self.internal, self.method, self.session),
            (self.portal, self.method, self.session),
            (self.cashier_a, self.method, self.session_b),
            (self.cashier_a, self.method_b, self.session_b),
            (self.cashier_b, self.method, self.session),
        ):
            with self.subTest(user=user.login, method=method.name):
                with self.assertRaises(AccessError):
                    quote(user, method, session)
        self.assertFalse(self.calls())
        # The method's own cashier gets the answer.
        self.assertEqual(quote(self.cashier_a, self.method, self.session)["rate"], 5.0)

    def test_an_empty_id_matches_nothing(self):
        draft = self.Request.sudo().create(
            {
                "amount": 1,
                "currency_id": self.method._centrapay_currency().id,
                "external_ref": "sec-draft",
                "payment_method_id": self.method.id,
                "session_id": self.session.id,
            }
        )
        for empty in ("", False, 0, None, ["x"], "x" * 65):
            with self.subTest(empty=empty), self.assertRaises(UserError):
                self.method.with_user(self.cashier_a).centrapay_cancel_request(
                    empty, self.session.id
                )
        self.assertEqual(draft.status, "draft")
        self.assertFalse(draft.void_requested)

    # --- 3. A reused payment_uuid ---

    def test_a_reused_payment_uuid_stays_in_its_method_session_and_company(self):
        state_a = self.as_cashier(self.cashier_a, self.method, amount=3.0)
        for amount in (3.0, 4.0):
            state_b = self.as_cashier(self.cashier_b, self.method_b, amount=amount)
            self.assertNotEqual(state_b["centrapay_id"], state_a["centrapay_id"])
        self.assertEqual(self.record(state_a).status, "new", "not voided by B")

    # --- 4. An order paid with money Centrapay never took ---

    def _order(self, user, centrapay_id, amount=2.0, method=None, session=None):
        method = method or self.method
        session = session or self.session
        return (
            self.env["pos.order"]
            .with_user(user)
            .with_company(method.company_id)
            .create(
                {
                    "session_id": session.id,
                    "state": "paid",
                    "amount_total": amount,
                    "amount_tax": 0,
                    "amount_paid": amount,
                    "amount_return": 0,
                    "payment_ids": [
                        Command.create(
                            {
                                "amount": amount,
                                "payment_method_id": method.id,
                                "centrapay_request_id": centrapay_id,
                                # As the till does: the line's own uuid.
                                "uuid": self.Request.sudo()
                                .search([("centrapay_id", "=", centrapay_id)])
                                .pos_payment_uuid
                                if centrapay_id
                                else False,
                            }
                        )
                    ],
                }
            )
        )

    def test_an_unverified_centrapay_line_is_refused(self):
        state = self.as_cashier(self.cashier_a, self.method, amount=1.0)
        for label, centrapay_id, amount in (
            ("made-up id", "made-up", 1.0),
            ("no id", False, 1.0),
            ("not paid yet", state["centrapay_id"], 1.0),
        ):
            with (
                self.subTest(label),
                self.assertRaisesRegex(ValidationError, "cannot be verified"),
            ):
                self._order(self.cashier_a, centrapay_id, amount)
        self.control.pay(state["centrapay_id"])
        self.make_stale(self.record(state))
        self.assertEqual(
            self.method.with_user(self.cashier_a).centrapay_get_status(
                state["centrapay_id"], self.session.id
            )["status"],
            "paid",
        )
        with self.assertRaisesRegex(ValidationError, "was paid"):
            self._order(self.cashier_a, state["centrapay_id"], 500.0)
        order = self._order(self.cashier_a, state["centrapay_id"], 1.0)
        request = self.record(state)
        self.assertEqual(request.pos_order_id, order)
        # The same request cannot pay a second order: the link never moves.
        with self.assertRaisesRegex(ValidationError, "another order"):
            self._order(self.cashier_a, state["centrapay_id"], 1.0)
        self.assertEqual(request.pos_order_id, order)

    def test_another_company_request_cannot_pay_an_order(self):
        state_b = self.as_cashier(self.cashier_b, self.method_b, amount=1.0)
        self.control.pay(state_b["centrapay_id"])
        self.make_stale(self.record(state_b))
        self.method_b.with_user(self.cashier_b).centrapay_get_status(
            state_b["centrapay_id"], self.session_b.id
        )
        with self.assertRaisesRegex(ValidationError, "cannot be verified"):
            self._order(self.cashier_a, state_b["centrapay_id"], 1.0)

    # --- 5. Lost creates and external references ---

    def test_external_refs_are_unique_per_database(self):
        state = self.as_cashier(self.cashier_a, self.method)
        dbuuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid")
        self.assertIn(f"/{dbuuid[:8]}/", self.record(state).external_ref)

    def test_a_lost_create_adopts_only_the_same_amount_and_currency(self):
        draft = self.Request.sudo().create(
            {
                "amount": 5,
                "currency_id": self.method._centrapay_currency().id,
                "external_ref": "Order X/shared/CP000591",
                "payment_method_id": self.method.id,
                "session_id": self.session.id,
                "next_poll_at": False,
            }
        )
        # Another database on the same account made a request with that reference.
        self.sandbox_client().create_payment_request(
            config_id=self.sandbox.merchant_config_id,
            amount=Decimal("1.00"),
            currency="NZD",
            external_ref="Order X/shared/CP000591",
        )
        self.engine_pass()
        self.assertFalse(draft.centrapay_id, "a request of another amount is not ours")
        self.assertFalse(self.calls("POST", "/void"))

    # --- 6. Not a Centrapay method ---

    def test_a_method_the_pos_does_not_offer_takes_no_payment(self):
        # Centrapay, of the cashier's company, readable by the cashier, but
        # not a method of the session's POS.
        journal = self.env["account.journal"].create(
            {"name": "Centrapay Elsewhere", "code": "CPE", "type": "bank"}
        )
        elsewhere = self.env["pos.payment.method"].create(
            centrapay_method_vals(self.sandbox, journal, name="Centrapay Elsewhere")
        )
        elsewhere.with_user(self.cashier_a).check_access("read")
        with self.assertRaisesRegex(AccessError, "not part of an open POS session"):
            self.as_cashier(self.cashier_a, elsewhere, session=self.session)
        self.assertFalse(
            self.Request.search([("payment_method_id", "=", elsewhere.id)])
        )
        self.assertFalse(self.calls("POST", "/api/payment-requests"))

    def test_a_create_on_another_method_leaves_nothing(self):
        cash = self.env["pos.payment.method"].create(
            {"name": "Cash SEC", "journal_id": self.journal.id}
        )
        with self.assertRaises(AccessError):
            cash.with_user(self.cashier_a).centrapay_create_request(
                {"amount": 1, "payment_uuid": "x", "session_id": self.session.id}
            )
        self.assertFalse(self.Request.search([("payment_method_id", "=", cash.id)]))

    # --- 7. Bad input ---

    def test_bad_input_gets_a_clear_error_and_leaves_nothing(self):
        method = self.method.with_user(self.cashier_a)
        base = {"amount": 1, "payment_uuid": "bad", "session_id": self.session.id}
        for label, data in (
            ("NaN", {**base, "amount": "NaN"}),
            ("Infinity", {**base, "amount": "Infinity"}),
            ("1e309", {**base, "amount": "1e309"}),
            ("float inf", {**base, "amount": float("inf")}),
            ("too big", {**base, "amount": 1e12}),
            ("line items not a list", {**base, "line_items": "x"}),
            ("line item not a dict", {**base, "line_items": ["x"]}),
            ("line item price", {**base, "line_items": [{"price": "abc"}]}),
            ("too many lines", {**base, "line_items": [{"price": 0}] * 501}),
            ("uuid type", {**base, "payment_uuid": ["x"]}),
            ("uuid length", {**base, "payment_uuid": "x" * 65}),
        ):
            with self.subTest(label):
                result = method.centrapay_create_request(data)
                self.assertIn("error", result)
                self.assertIsInstance(result["error"], str)
        self.assertEqual(
            method.centrapay_create_request("not a dict"),
            {"error": "The POS sent a malformed Centrapay request."},
        )
        for session_id in ("abc", [1], {"id": 1}, None, True):
            with self.subTest(session=session_id), self.assertRaises(UserError):
                method.centrapay_create_request({**base, "session_id": session_id})
        for ids in ([], [self.method.id, self.method.id]):
            with self.subTest(ids=ids), self.assertRaises(UserError):
                self.env["pos.payment.method"].with_user(self.cashier_a).browse(
                    ids
                ).centrapay_create_request(base)
        self.assertFalse(self.calls("POST", "/api/payment-requests"))
        self.assertFalse(self.Request.search([("pos_payment_uuid", "=", "bad")]))

    def test_control_characters_never_reach_centrapay(self):
        state = self.as_cashier(
            self.cashier_a,
            self.method,
            amount=2.0,
            order_name="Order\x00\x1b[31m 7\n",
            line_items=[{"name": "Tea\x07\x1b", "qty": 1, "price": 2.0}],
        )
        created = self.sandbox_client().get_payment_request(state["centrapay_id"])
        self.assertEqual(created["lineItems"][0]["name"], "Tea")
        self.assertNotRegex(created["externalRef"], r"[\x00-\x1f]")

    def test_huge_basket_numbers_are_refused_before_anything_is_stored(self):
        error = {"error": "The POS sent malformed line items."}
        for label, lines in (
            ("qty 1e1000000", [{"name": "Tea", "qty": "1e1000000", "price": 1.0}]),
            ("price 1e30", [{"name": "Tea", "qty": 1, "price": "1e30"}]),
            ("500 huge qty", [{"name": "Tea", "qty": "1e999998", "price": 0}] * 500),
        ):
            for user, method in (
                (self.cashier_a, self.method),
                (self.cashier_b, self.method_b),
            ):
                with self.subTest(label, user=user.login):
                    result = self.as_cashier(
                        user, method, 1.0, "huge-basket", line_items=lines
                    )
                    self.assertEqual(result, error)
        self.assertFalse(
            self.Request.search([("pos_payment_uuid", "=", "huge-basket")])
        )
        self.assertFalse(self.calls("POST", "/api/payment-requests"))

    def test_managers_see_the_centrapay_rows_of_their_companies_only(self):
        # Company B also has a method on an account of its own at Centrapay.
        other = self.control.add_account(merchant_name="Company B")
        self.env["pos.payment.method"].with_company(self.company_b).create(
            centrapay_method_vals(
                self.sandbox,
                self.journal_b,
                name="Centrapay B2",
                company_id=self.company_b.id,
                centrapay_api_key=other["api_key"],
                centrapay_merchant_config_id=other["merchant_config_id"],
                centrapay_merchant_id=other["merchant_id"],
                centrapay_merchant_account_id=other["merchant_account_id"],
            )
        )
        state_a = self.as_cashier(self.cashier_a, self.method)
        request_a = self.Request.search(
            [("centrapay_id", "=", state_a["centrapay_id"])]
        )
        state_b = self.as_cashier(self.cashier_b, self.method_b)
        request_b = self.Request.search(
            [("centrapay_id", "=", state_b["centrapay_id"])]
        )
        # Reading settlements keeps a row per account and spends their budgets.
        self.env["centrapay.settlement"].with_user(self.manager_b).with_company(
            self.company_b
        ).action_centrapay_sync()
        Event = self.env["centrapay.webhook.event"]
        for request, notification_id in ((request_a, "n-a"), (request_b, "n-b")):
            Event.sudo()._centrapay_register(
                {"id": notification_id, "type": "payment-request:paid"}, request
            )
        key_a = self.method._centrapay_rate_key()
        key_b = Event.env["centrapay.rate.limit"]._key_for(other["api_key"])
        # Company B's first method shares company A's account: B sees both.
        for user, keys, notification_id in (
            (self.manager_a, {key_a}, "n-a"),
            (self.manager_b, {key_a, key_b}, "n-b"),
        ):
            with self.subTest(user=user.login):
                for model in ("centrapay.account", "centrapay.rate.limit"):
                    rows = self.env[model].with_user(user).search([])
                    self.assertEqual(set(rows.mapped("key")), keys, model)
                events = Event.with_user(user).search([])
                self.assertEqual(events.mapped("notification_id"), [notification_id])
        for model in ("centrapay.account", "centrapay.rate.limit"):
            row_b = self.env[model].sudo().search([("key", "=", key_b)])
            self.assertEqual(row_b.company_ids, self.company_b)
            with self.assertRaises(AccessError):
                row_b.with_user(self.manager_a).read(["key"])
            with self.assertRaises(AccessError):
                self.env[model].with_user(self.cashier_a).search([])

    def test_notifications_recorded_before_the_company_rule_get_their_company(self):
        state = self.as_cashier(self.cashier_b, self.method_b)
        request = self.Request.search([("centrapay_id", "=", state["centrapay_id"])])
        Event = self.env["centrapay.webhook.event"]
        Event.sudo()._centrapay_register({"id": "n-old", "type": "x"}, request)
        self.env.flush_all()
        self.env.cr.execute("UPDATE centrapay_webhook_event SET company_id = NULL")
        self.env.invalidate_all()
        self.assertFalse(Event.with_user(self.manager_b).search([]))
        Event.init()  # what an upgrade of the module runs
        self.env.invalidate_all()
        events = Event.with_user(self.manager_b).search([])
        self.assertEqual(events.mapped("notification_id"), ["n-old"])
        self.assertFalse(Event.with_user(self.manager_a).search([]))

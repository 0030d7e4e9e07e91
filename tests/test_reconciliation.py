from decimal import Decimal

from lxml import etree

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import CentrapayCommon, CentrapayHttpCommon, centrapay_method_vals


class ReconciliationMixin:
    def paid_request(self, amount, payment_uuid, method=None, session=None):
        method = method or self.method
        session = session or self.session
        state = method.centrapay_create_request(
            {
                "amount": amount,
                "payment_uuid": payment_uuid,
                "order_uuid": payment_uuid,
                "session_id": session.id,
            }
        )
        self.control.pay(state["centrapay_id"])
        request = self.env["centrapay.payment.request"].search(
            [("centrapay_id", "=", state["centrapay_id"])]
        )
        request.sudo().write({"last_read_at": False, "next_poll_at": False})
        # As if a second had passed since a till's poll last read the account.
        self.env.cr.execute("UPDATE centrapay_account SET polled_at = NULL")
        method.centrapay_get_status(state["centrapay_id"], session.id)
        return request

    def pos_order(self, request, amount=None, session=None):
        """A POS order paid by ``request`` (the line is verified on save)."""
        return self.sale(request, session=session or self.session, amount=amount)

    def items(self, session=None):
        return self.env["centrapay.reconciliation.item"]._centrapay_reconcile_sessions(
            session or self.session
        )


@tagged("post_install", "-at_install")
class TestCentrapayReconciliation(ReconciliationMixin, CentrapayCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.method.company_id
        cls.manager = new_test_user(
            cls.env,
            login="recon_manager",
            groups="base.group_user,point_of_sale.group_pos_manager",
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )
        cls.cashier = new_test_user(
            cls.env,
            login="recon_cashier",
            groups="base.group_user,point_of_sale.group_pos_user",
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )

    def kind(self, request):
        return self.items().filtered(lambda i: i.request_id == request).kind

    def test_a_matched_payment(self):
        request = self.paid_request(10, "m1")
        self.pos_order(request)
        item = self.items().filtered(lambda i: i.request_id == request)
        self.assertEqual(item.kind, "matched")
        self.assertEqual((item.odoo_amount, item.centrapay_amount), (10, 10))
        self.assertEqual(item.state, "done")

    def test_an_orphan_refunded_becomes_matched(self):
        request = self.paid_request(7, "o1")
        item = self.items().filtered(lambda i: i.request_id == request)
        self.assertEqual(item.kind, "orphan")
        self.assertEqual(item.difference, 7)
        with self.assertRaises(AccessError):
            item.with_user(self.cashier).action_centrapay_refund_orphan()
        action = item.with_user(self.manager).action_centrapay_refund_orphan()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.kind(request), "matched")
        self.assertEqual(item.action_ids.action, "refund")
        self.assertEqual(item.action_ids.user_id, self.manager)

    def test_an_orphan_attached_to_its_order(self):
        request = self.paid_request(4, "a1")
        item = self.items().filtered(lambda i: i.request_id == request)
        order = self.env["pos.order"].create(
            {
                "session_id": self.session.id,
                "amount_total": 4,
                "amount_tax": 0,
                "amount_paid": 0,
                "amount_return": 0,
            }
        )
        self.attach(item, order)
        self.assertEqual(request.pos_order_id, order)
        self.assertEqual(item.state, "done")
        self.assertEqual(item.action_ids.action, "attach")
        self.assertNotIn("difference", item.explanation)

    def draft_order(self, amount, session=None):
        session = session or self.session
        return (
            self.env["pos.order"]
            .with_company(session.company_id)
            .create(
                {
                    "session_id": session.id,
                    "amount_total": amount,
                    "amount_tax": 0,
                    "amount_paid": 0,
                    "amount_return": 0,
                }
            )
        )

    def attach(self, item, order, user=None):
        return (
            self.env["centrapay.reconciliation.wizard"]
            .with_user(user or self.manager)
            .create({"mode": "attach", "item_ids": item.ids, "pos_order_id": order.id})
            .action_confirm()
        )

    def test_only_an_orphan_is_attached_to_an_order_it_may_belong_to(self):
        matched = self.paid_request(4, "att-matched")
        paid_order = self.pos_order(matched)
        orphan = self.paid_request(4, "att-orphan")
        items = self.items()
        matched_item = items.filtered(lambda i: i.request_id == matched)
        orphan_item = items.filtered(lambda i: i.request_id == orphan)
        other_method, other_session = self.other_company_pos()
        other_order = self.draft_order(4, other_session)
        both = new_test_user(
            self.env,
            login="recon_manager_ab",
            groups="base.group_user,point_of_sale.group_pos_manager",
            company_id=self.session.company_id.id,
            company_ids=[
                Command.set((self.session.company_id | other_session.company_id).ids)
            ],
        )
        cases = (
            ("a matched item", matched_item, self.draft_order(4), self.manager),
            ("to an order paid by Centrapay", orphan_item, paid_order, self.manager),
            ("to another company's order", orphan_item, other_order, both),
        )
        for label, item, order, user in cases:
            with self.subTest(label), self.assertRaises(UserError):
                self.attach(item, order, user)
        self.assertEqual(matched.pos_order_id, paid_order)
        self.assertFalse(orphan.pos_order_id)
        # The dialog offers only the orders an orphan may be attached to.
        Wizard = self.env["centrapay.reconciliation.wizard"].with_user(self.manager)
        arch = etree.fromstring(
            Wizard.get_views([(False, "form")])["views"]["form"]["arch"]
        )
        domain = safe_eval(
            arch.xpath("//field[@name='pos_order_id']")[0].get("domain"),
            {"company_id": self.session.company_id.id},
        )
        free_order = self.draft_order(4)
        offered = self.env["pos.order"].with_user(self.manager).search(domain)
        self.assertIn(free_order, offered)
        self.assertNotIn(paid_order, offered)
        self.assertNotIn(other_order, offered)
        self.assertFalse((matched_item | orphan_item).action_ids)
        self.assertEqual(matched_item.kind, "matched")
        self.assertFalse(orphan_item.explained)

    def test_an_attached_orphan_records_a_difference_of_amounts(self):
        request = self.paid_request(4, "att-diff")
        item = self.items().filtered(lambda i: i.request_id == request)
        order = self.draft_order(5)
        self.attach(item, order)
        self.assertEqual(request.pos_order_id, order)
        self.assertTrue(item.explained)
        self.assertIn("a difference of", item.explanation)
        self.assertIn("-", item.explanation.split("a difference of")[1])
        self.assertEqual(item.action_ids.note, item.explanation)
        self.assertEqual(item.action_ids.user_id, self.manager)

    def test_a_pos_payment_whose_request_is_not_paid(self):
        request = self.paid_request(5, "u1")
        self.pos_order(request)
        # Found cancelled later (our void refunded it): the order says paid.
        # The ledger has not brought the payment nor its refund yet.
        request.activity_ids.sudo().unlink()
        request.sudo().write({"status": "cancelled", "refunded_by_void": True})
        self.assertEqual(self.kind(request), "unpaid_pos")

    def test_an_amount_mismatch(self):
        request = self.paid_request(5, "x1")
        order = self.pos_order(request)
        # An order saved before lines were verified, for another amount.
        self.env.cr.execute(
            "UPDATE pos_payment SET amount = 6 WHERE id = %s", [order.payment_ids.id]
        )
        order.payment_ids.invalidate_recordset()
        item = self.items().filtered(lambda i: i.request_id == request)
        self.assertEqual(item.kind, "amount_mismatch")
        self.assertEqual(item.difference, -1)

    def test_a_refund_on_one_side_only(self):
        request = self.paid_request(9, "r1")
        self.pos_order(request)
        self.sandbox_client().refund_payment_request(
            request.centrapay_id,
            amount=Decimal("2"),
            currency="NZD",
            external_ref="portal-r1",
        )
        self.make_stale(request)
        self.engine_pass()  # the ledger brings the refund made outside Odoo
        item = self.items().filtered(lambda i: i.request_id == request)
        self.assertEqual(item.kind, "refund_one_side")
        self.assertEqual((item.odoo_amount, item.centrapay_amount), (9, 7))

    def test_explained_with_a_note_by_a_manager(self):
        request = self.paid_request(3, "e1")
        item = self.items().filtered(lambda i: i.request_id == request)
        Wizard = self.env["centrapay.reconciliation.wizard"]
        with self.assertRaises(AccessError):
            Wizard.with_user(self.cashier).create(
                {"mode": "explain", "item_ids": item.ids, "note": "x"}
            )
        Wizard.with_user(self.manager).create(
            {"mode": "explain", "item_ids": item.ids, "note": "Paid a tab by phone"}
        ).action_confirm()
        self.assertEqual(item.state, "done")
        self.items()  # a refresh keeps the explanation
        self.assertTrue(item.explained)
        self.assertEqual(item.action_ids.note, "Paid a tab by phone")

    def test_a_pending_request_stops_the_close(self):
        state = self.create_request(2, payment_uuid="pending-1")
        result = self.session._cannot_close_session()
        self.assertFalse(result["successful"])
        self.assertIn(state["short_code"], result["message"])
        self.assertIn("waiting for a payment of", result["message"])
        with self.assertRaisesRegex(UserError, "need a look"):
            self.session.action_pos_session_closing_control()
        with self.assertRaises(AccessError):
            self.session.with_user(self.cashier).action_centrapay_close_anyway()
        self.session.with_user(self.manager).action_centrapay_close_anyway()
        self.assertEqual(self.session.centrapay_close_forced_by, self.manager)
        self.assertIn(self.session.state, ("closing_control", "closed"))
        item = self.env["centrapay.reconciliation.item"].search(
            [("short_code", "=", state["short_code"])]
        )
        self.assertEqual(item.action_ids.action, "close")

    def other_company_pos(self):
        """A Centrapay method and an open session in a second company."""
        other = self.setup_other_company(currency_id=self.env.ref("base.NZD").id)
        journal = self.env["account.journal"].create(
            {
                "name": "Centrapay other",
                "code": "CPO",
                "type": "bank",
                "company_id": other["company"].id,
            }
        )
        method = (
            self.env["pos.payment.method"]
            .with_company(other["company"])
            .create(
                centrapay_method_vals(
                    self.sandbox, journal, company_id=other["company"].id
                )
            )
        )
        config = (
            self.env["pos.config"]
            .with_company(other["company"])
            .create(
                {
                    "name": "Other POS",
                    "company_id": other["company"].id,
                    "payment_method_ids": [Command.set(method.ids)],
                }
            )
        )
        config.with_company(other["company"]).open_ui()
        session = config.current_session_id
        session.set_opening_control(0, "")
        return method, session

    def test_another_company_session_is_never_counted(self):
        method, session = self.other_company_pos()
        self.paid_request(8, "other-1", method=method, session=session)
        self.assertFalse(self.session._centrapay_close_problems())
        self.assertTrue(session._centrapay_close_problems())


@tagged("post_install", "-at_install")
class TestCentrapayReconciliationTour(ReconciliationMixin, CentrapayHttpCommon):
    def test_a_manager_refunds_an_orphan_and_the_session_matches(self):
        self.control = self.sandbox.control
        self.main_pos_config.open_ui()
        # (self.session is the HTTP session in an HttpCase.)
        pos_session = self.main_pos_config.current_session_id
        pos_session.set_opening_control(0, "")
        self.method = self.centrapay_method
        request = self.paid_request(6, "tour-orphan", session=pos_session)
        self.assertEqual(
            self.items(pos_session).filtered(lambda i: i.request_id == request).kind,
            "orphan",
        )
        self.start_tour(
            "/odoo/action-pos_centrapay.action_server_centrapay_reconciliation",
            "CentrapayReconciliationTour",
            login="pos_admin",
        )
        items = self.items(pos_session)
        self.assertEqual(set(items.mapped("state")), {"done"})
        self.assertEqual(request.refund_ids.origin, "backoffice")

from decimal import Decimal

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.tests import new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.point_of_sale.tests.test_frontend import TestPointOfSaleHttpCommon

from ..centrapay import client as client_module
from ..centrapay.client import CentrapayClient
from ..centrapay.sandbox.server import Sandbox
from ..models import centrapay_engine as engine_module


def start_sandbox(test_class):
    """A real Centrapay sandbox on 127.0.0.1, for the whole test class.

    ``sandbox_public_url`` on the class: the host of the pay URLs it returns.
    """
    public_url = getattr(test_class, "sandbox_public_url", None)
    sandbox = Sandbox(host="127.0.0.1", port=0, public_url=public_url).start()
    test_class.addClassCleanup(sandbox.stop)
    return sandbox


def centrapay_method_vals(sandbox, journal, **overrides):
    return {
        "name": "Centrapay",
        "journal_id": journal.id,
        "payment_method_type": "terminal",
        "use_payment_terminal": "centrapay",
        "centrapay_environment": "sandbox",
        "centrapay_base_url": sandbox.base_url,
        "centrapay_api_key": sandbox.api_key,
        "centrapay_merchant_config_id": sandbox.merchant_config_id,
        "centrapay_merchant_id": sandbox.merchant_id,
        "centrapay_merchant_account_id": sandbox.merchant_account_id,
        **overrides,
    }


class TupleTimeoutMixin:
    """Let Odoo's test HTTP guard see the client's (connect, read) timeouts.

    Odoo's guard, which blocks every host but 127.0.0.1, compares the timeout
    with a number; it then passes the larger part on.
    """

    @classmethod
    def _request_handler(cls, s, r, /, **kw):
        if isinstance(kw.get("timeout"), tuple):
            kw["timeout"] = max(kw["timeout"])
        return super()._request_handler(s, r, **kw)


class NzdCompanyMixin:
    """Run in a company that keeps its books in NZD, Centrapay's currency."""

    @classmethod
    def setup_independent_company(cls, **kwargs):
        nzd = cls.env.ref("base.NZD")
        nzd.active = True
        return super().setup_independent_company(currency_id=nzd.id, **kwargs)


CASHIER = "base.group_user,point_of_sale.group_pos_user"
MANAGER = "base.group_user,point_of_sale.group_pos_manager"


class PosSaleMixin:
    """POS orders as a till saves them, for tests that need a sale."""

    def sale(self, request, qty=1, session=None, amount=None, other=()):
        """The POS order ``request`` paid: ``qty`` of one product, as a till saves it.

        Its Centrapay line carries the request's payment uuid, as the POS's
        does; ``amount`` overrides the line's amount (a forged line, or what a
        partial payment took); ``other``: ``(method, amount)`` of the order's
        other tenders.
        """
        product = self.env["product.product"].create(
            {
                "name": f"Tea for {request.pos_payment_uuid}",
                "list_price": request.amount / qty,
                "taxes_id": [Command.clear()],
                "available_in_pos": True,
            }
        )
        total = request.amount
        paid = total if amount is None else amount
        return self.env["pos.order"].create(
            {
                "session_id": (session or request.session_id).id,
                "state": "paid",
                "amount_total": total,
                "amount_tax": 0,
                "amount_paid": paid + sum(a for _method, a in other),
                "amount_return": 0,
                "lines": [
                    Command.create(
                        {
                            "product_id": product.id,
                            "qty": qty,
                            "price_unit": total / qty,
                            "price_subtotal": total,
                            "price_subtotal_incl": total,
                        }
                    )
                ],
                "payment_ids": [
                    Command.create(
                        {
                            "amount": paid,
                            "payment_method_id": request.payment_method_id.id,
                            "centrapay_request_id": request.centrapay_id,
                            "uuid": request.pos_payment_uuid,
                        }
                    )
                ]
                + [
                    Command.create({"amount": a, "payment_method_id": method.id})
                    for method, a in other
                ],
            }
        )

    @staticmethod
    def returned(order, qty=1):
        """The ``refunded_lines`` of a refund order returning ``qty`` of ``order``."""
        return [{"id": order.lines[:1].id, "qty": qty}]


class CentrapayCommon(
    PosSaleMixin, TupleTimeoutMixin, NzdCompanyMixin, AccountTestInvoicingCommon
):
    """A POS with a Centrapay payment method pointing at a fresh sandbox."""

    # Settings of the class's method (``centrapay_partial_allowed``...): a
    # method's settings cannot change while its session is open.
    centrapay_method_settings = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = start_sandbox(cls)
        cls.control = cls.sandbox.control
        cls.journal = cls.env["account.journal"].create(
            {"name": "Centrapay Test", "code": "CPT", "type": "bank"}
        )
        cls.method = cls.env["pos.payment.method"].create(
            centrapay_method_vals(
                cls.sandbox, cls.journal, **cls.centrapay_method_settings
            )
        )
        # A cash method beside it, for an order's other tender.
        cls.cash_method = cls.env["pos.payment.method"].create(
            {
                "name": "Cash CPT",
                "journal_id": cls.env["account.journal"]
                .create({"name": "Cash CPT", "code": "CSCPT", "type": "cash"})
                .id,
            }
        )
        cls.pos_config = cls.env["pos.config"].create(
            {
                "name": "Centrapay Test POS",
                "payment_method_ids": [Command.set((cls.method | cls.cash_method).ids)],
            }
        )
        cls.pos_config.open_ui()
        cls.session = cls.pos_config.current_session_id
        cls.session.set_opening_control(0, "")  # the cashier opens the register
        cls.Request = cls.env["centrapay.payment.request"]

    @classmethod
    def _user(cls, login, groups, company=None):
        """A real user of ``groups`` (CASHIER, MANAGER...) in one company only
        (the payment method's by default)."""
        company = company or cls.method.company_id
        return new_test_user(
            cls.env,
            login=login,
            groups=groups,
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )

    # The engine and the rate budget work in transactions of their own
    # (registry cursors). In test mode those share the test's transaction, so
    # they see its fixtures; tests of real concurrency turn it off.
    centrapay_test_mode = True

    def setUp(self):
        super().setUp()
        self.control.clear_faults()
        self.control.clear_calls()
        # The connections a pass keeps open for the tills end with the test.
        self.addCleanup(self._stop_keeping_warm)
        # The rate budget lives in its own committed transactions (by design):
        # give each test a full one.
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM centrapay_rate_limit")
            cr.execute("DELETE FROM centrapay_account")
        if self.centrapay_test_mode:
            self.registry.enter_test_mode(self.cr)
            self.addCleanup(self.registry.leave_test_mode)

    @staticmethod
    def _stop_keeping_warm():
        with client_module._warming_lock:
            for entry in client_module._warming.values():
                entry["until"] = 0
            # Their threads end within WARM_CHECK_SECONDS; the next test's
            # entries are new ones, which those threads never remove.
            client_module._warming.clear()
        engine_module._warm_renewed.clear()

    def another_account_method(self, name, env=None):
        """A Centrapay method of another store, on a sandbox account of its
        own; returns it and the account (its keys and ids)."""
        env = env or self.env
        account = self.control.add_account(name)
        journal = env["account.journal"].create(
            {"name": f"Centrapay {name}", "type": "bank"}
        )
        method = env["pos.payment.method"].create(
            centrapay_method_vals(
                self.sandbox,
                journal,
                name=f"Centrapay {name}",
                centrapay_api_key=account["api_key"],
                centrapay_merchant_config_id=account["merchant_config_id"],
                centrapay_merchant_id=account["merchant_id"],
                centrapay_merchant_account_id=account["merchant_account_id"],
            )
        )
        return method, account

    def create_request(
        self, amount=12.5, payment_uuid="line-1", method=None, session=None, **extra
    ):
        """Call the POS RPC (``method`` may carry a user); return its result."""
        # The request is created in a transaction of its own, which sees the
        # test's fixtures once they are flushed (as a POS sees committed ones).
        self.env.flush_all()
        result = (method or self.method).centrapay_create_request(
            {
                "amount": amount,
                "payment_uuid": payment_uuid,
                "order_uuid": "order-1",
                "order_name": "Order 0001",
                "session_id": (session or self.session).id,
                "device_id": "till-1",
                **extra,
            }
        )
        # What that transaction wrote is read afresh.
        self.env.invalidate_all()
        return result

    def status(self, state, method=None, session=None):
        """Call the POS status RPC for a state returned by create_request."""
        return (method or self.method).centrapay_get_status(
            state["centrapay_id"], (session or self.session).id
        )

    def cancel(self, state, method=None, session=None):
        """Call the POS cancel RPC for a state returned by create_request."""
        return (method or self.method).centrapay_cancel_request(
            state["centrapay_id"], (session or self.session).id
        )

    def engine_pass(self):
        """One pass of the status engine, as the cron makes it."""
        self.env.flush_all()
        pending = self.env["centrapay.engine"]._centrapay_pass()
        # The engine worked in cursors of its own: read its results afresh.
        self.env.invalidate_all()
        return pending

    def record(self, state):
        return self.Request.search([("centrapay_id", "=", state["centrapay_id"])])

    def make_feed_due(self, request):
        """As if the account's feed were due and the request's own read not:
        what the engine learns of it then comes from the feed."""
        request.sudo().next_poll_at = fields.Datetime.add(
            fields.Datetime.now(), minutes=5
        )
        request.env.flush_all()
        request.env.cr.execute("UPDATE centrapay_account SET feed_next_at = NULL")

    def make_stale(self, request):
        """As if a while had passed since the request and its account's feed
        were read (by the engine, or by a till's poll standing in for it)."""
        request.sudo().write({"last_read_at": False, "next_poll_at": False})
        request.env.flush_all()
        request.env.cr.execute(
            "UPDATE centrapay_account SET polled_at = NULL, feed_next_at = NULL"
        )

    def calls(self, method=None, path_part=""):
        return [
            call
            for call in self.control.calls()
            if (method is None or call["method"] == method)
            and path_part in call["path"]
        ]

    def sandbox_client(self):
        return CentrapayClient(self.sandbox.base_url, self.sandbox.api_key)


class TwoCompanyCommon(CentrapayCommon):
    """Two NZD companies, each with a Centrapay POS in an open session, and real
    users of each group: cashiers and managers of each, an internal user and a
    portal user of the first. Never the superuser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.method.company_id
        other = cls.setup_other_company(currency_id=cls.env.ref("base.NZD").id)
        cls.company_b = other["company"]
        cls.journal_b = cls.env["account.journal"].create(
            {
                "name": "Centrapay B",
                "code": "CPB",
                "type": "bank",
                "company_id": cls.company_b.id,
            }
        )
        cls.method_b = (
            cls.env["pos.payment.method"]
            .with_company(cls.company_b)
            .create(
                centrapay_method_vals(
                    cls.sandbox, cls.journal_b, company_id=cls.company_b.id
                )
            )
        )
        cls.config_b = (
            cls.env["pos.config"]
            .with_company(cls.company_b)
            .create(
                {
                    "name": "Centrapay POS B",
                    "company_id": cls.company_b.id,
                    "payment_method_ids": [Command.set(cls.method_b.ids)],
                }
            )
        )
        cls.config_b.with_company(cls.company_b).open_ui()
        cls.session_b = cls.config_b.current_session_id
        cls.session_b.set_opening_control(0, "")
        cls.cashier_a = cls._user(
            "cashier_a", "base.group_user,point_of_sale.group_pos_user", cls.company_a
        )
        cls.cashier_b = cls._user(
            "cashier_b", "base.group_user,point_of_sale.group_pos_user", cls.company_b
        )
        cls.manager_a = cls._user(
            "manager_a",
            "base.group_user,point_of_sale.group_pos_manager",
            cls.company_a,
        )
        cls.manager_b = cls._user(
            "manager_b",
            "base.group_user,point_of_sale.group_pos_manager",
            cls.company_b,
        )
        cls.internal = cls._user("internal_a", "base.group_user", cls.company_a)
        cls.portal = cls._user("portal_a", "base.group_portal", cls.company_a)

    def as_cashier(self, user, method, amount=2.0, payment_uuid="sec-line", **extra):
        session = extra.pop(
            "session", self.session if method == self.method else self.session_b
        )
        return (
            method.with_user(user)
            .with_company(method.company_id)
            .centrapay_create_request(
                {
                    "amount": amount,
                    "payment_uuid": payment_uuid,
                    "order_uuid": "sec-order",
                    "order_name": "Order SEC",
                    "session_id": session.id,
                    **extra,
                }
            )
        )


class CommittedRequestMixin:
    """Fixtures committed in transactions of their own, for tests of real
    concurrency (``centrapay_test_mode = False``); removed after each test."""

    def _committed_request(self, external_ref, merchant_id=True):
        """A pending Centrapay request and its Odoo record, committed."""
        created = self.sandbox_client().create_payment_request(
            config_id=self.sandbox.merchant_config_id,
            amount=Decimal("3.50"),
            currency="NZD",
            external_ref=external_ref,
        )
        # The test's own transaction is invisible to other workers: commit the
        # fixture in one of its own, and remove it afterwards.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            journal = env["account.journal"].create(
                {"name": f"Centrapay {external_ref}", "type": "bank"}
            )
            vals = centrapay_method_vals(self.sandbox, journal)
            if not merchant_id:
                vals["centrapay_merchant_id"] = False
            method = env["pos.payment.method"].create(vals)
            request = env["centrapay.payment.request"].create(
                {
                    "centrapay_id": created["id"],
                    "status": "new",
                    "amount": 3.5,
                    "currency_id": env.ref("base.NZD").id,
                    "external_ref": external_ref,
                    "payment_method_id": method.id,
                }
            )
            ids = (journal.id, method.id, request.id)
        self.addCleanup(self._remove_committed, *ids)
        return created, ids

    def _remove_committed(self, journal_id, method_id, request_id):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            # What the engine's passes stored, ours or not.
            cr.execute(
                "DELETE FROM centrapay_payment_activity "
                "WHERE request_id IS NULL OR request_id = %s",
                [request_id],
            )
            env["centrapay.payment.request"].browse(request_id).unlink()
            env["pos.payment.method"].browse(method_id).unlink()
            env["account.journal"].browse(journal_id).unlink()
            cr.execute("DELETE FROM centrapay_account")


class CentrapayHttpCommon(
    PosSaleMixin, TupleTimeoutMixin, NzdCompanyMixin, TestPointOfSaleHttpCommon
):
    """The point_of_sale tour fixture plus a Centrapay method on a fresh sandbox."""

    # Settings of the Centrapay method (``centrapay_partial_allowed``...).
    centrapay_method_settings = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = start_sandbox(cls)
        cls.control = cls.sandbox.control
        cls.centrapay_method = cls.env["pos.payment.method"].create(
            centrapay_method_vals(
                cls.sandbox, cls.bank_journal, **cls.centrapay_method_settings
            )
        )
        cls.main_pos_config.write(
            {"payment_method_ids": [Command.link(cls.centrapay_method.id)]}
        )


class CentrapayTillCommon(CentrapayHttpCommon):
    """A till open on the Centrapay POS, for the tours of one flow."""

    def setUp(self):
        super().setUp()
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.Request = self.env["centrapay.payment.request"]

    def _requests(self):
        return self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)], order="id"
        )

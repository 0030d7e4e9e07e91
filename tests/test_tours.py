import threading

from odoo import SUPERUSER_ID, Command, api
from odoo.tests import new_test_user, tagged

from .common import MANAGER, CentrapayHttpCommon, CentrapayTillCommon


def engine_beside(test):
    """The status engine running beside a tour, as its cron makes it on a
    server with a cron worker (the server then tells the till not to poll while
    the bus delivers); returns a function that stops it and waits for its last
    pass: a test cursor runs on the test's own, so a query of the test made
    during a pass could read the pass's result instead of its own."""
    stop = threading.Event()

    def one_pass():
        with test.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["centrapay.engine"]._centrapay_pass()

    # The till opens on a server whose engine already runs: without this pass
    # a create made before the thread's first one was told to poll.
    one_pass()

    def engine():
        # Not while the test's own cursor logs the browser in (browser_js sets
        # this flag right after it; a second covers its flush): that cursor is
        # not to be shared. The first pass stays fresh for ENGINE_STALE_SECONDS.
        while not test.http_request_strict_check:
            if stop.wait(0.1):
                return
        if stop.wait(1):
            return
        while True:
            one_pass()
            if stop.wait(0.5):
                return

    thread = threading.Thread(target=engine)
    thread.start()
    test.addCleanup(thread.join, 5)
    test.addCleanup(stop.set)

    def stop_and_join():
        stop.set()
        thread.join(30)  # no call starts after a pass's window (8 s)
        test.assertFalse(thread.is_alive(), "the engine's last pass did not end")

    return stop_and_join


@tagged("post_install", "-at_install")
class TestCentrapayTours(CentrapayHttpCommon):
    def setUp(self):
        super().setUp()
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.Request = self.env["centrapay.payment.request"]

    def test_smoke(self):
        self.start_pos_tour("CentrapaySmokeTour")

    def test_pay(self):
        """Paid by the sandbox patron at the URL the tour read from the QR code
        shown, which reads exactly as the request's url (CP-CORE-5)."""
        self.start_pos_tour("CentrapayPayTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(request.status, "paid")
        self.assertTrue(
            request.pos_payment_id, "the synced payment line links its request"
        )
        self.assertEqual(
            request.pos_payment_id.centrapay_short_code, request.short_code
        )
        self.assertEqual(request.pos_order_id.state, "paid")

    def test_cancel(self):
        """The cashier cancels (no second popup), then simply retries and is paid."""
        self.start_pos_tour("CentrapayCancelTour")
        retried, cancelled = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)], order="id desc"
        )
        self.assertEqual(cancelled.status, "cancelled")
        self.assertEqual(cancelled.cancellation_reason, "CANCELLED_BY_MERCHANT")
        self.assertEqual(retried.status, "paid")
        self.assertEqual(retried.pos_payment_uuid, cancelled.pos_payment_uuid)

    def test_timers_stop(self):
        """Each timer of the POS terminal stops: the status reads on a final
        state (none at all while the bus is up and the engine runs), and a
        create that cannot reach the server is tried a bounded number of times
        and stops when its line is removed (the tour counts the till's calls)."""
        stop = engine_beside(self)
        # About 70 s of it waits on purpose: longer than the 60 s default.
        self.start_pos_tour("CentrapayTimersTour", timeout=180)
        stop()
        requests = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(requests.mapped("status"), ["cancelled"])

    def test_expire(self):
        self.start_pos_tour("CentrapayExpireTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(request.status, "expired")

    def test_a_qr_whose_status_can_no_longer_be_read_says_so(self):
        """A manager closes the session in the back office while a QR waits:
        the server refuses the till's status reads, and the till says so."""
        company = self.main_pos_config.company_id
        manager = new_test_user(
            self.env,
            login="cp_tour_manager",
            groups=MANAGER,
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )
        session = self.main_pos_config.current_session_id
        self.env.flush_all()
        stop = threading.Event()
        closed = []

        def close_the_session_once_a_qr_waits():
            while not stop.wait(0.3):
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, manager.id, {})
                    waiting = (
                        env["centrapay.payment.request"]
                        .sudo()
                        .search_count(
                            [("session_id", "=", session.id), ("status", "=", "new")]
                        )
                    )
                    if waiting:
                        # As "Close Session" does first, before its checks.
                        env["pos.session"].browse(session.id).write(
                            {"state": "closing_control"}
                        )
                        closed.append(True)
                        return

        thread = threading.Thread(target=close_the_session_once_a_qr_waits)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(stop.set)
        self.start_pos_tour("CentrapayUnreadableStatusTour")
        self.assertTrue(closed)

    def test_reload_mid_payment_then_pay(self):
        self.start_pos_tour("CentrapayReloadTour")
        request = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(
            len(request), 1, "the reload resumed the request, it made no new one"
        )
        self.assertEqual(request.status, "paid")

    def test_an_unverified_centrapay_line_does_not_sync(self):
        self.start_pos_tour("CentrapayUnverifiedLineTour")
        orders = self.env["pos.order"].search(
            [("config_id", "=", self.main_pos_config.id)]
        )
        self.assertFalse(orders.filtered(lambda o: o.state != "draft"))

    def _refunds(self):
        return self.env["centrapay.refund"].search(
            [("request_id.payment_method_id", "=", self.centrapay_method.id)]
        )

    def test_full_refund_from_the_pos(self):
        self.start_pos_tour("CentrapayFullRefundTour")
        refund = self._refunds()
        self.assertEqual(refund.state, "initiated")
        self.assertEqual(refund.amount, refund.request_id.amount)
        self.assertTrue(refund.pos_order_id, "the refund order synced and links it")
        self.assertTrue(refund.short_code)

    def test_partial_refund_from_the_pos(self):
        self.start_pos_tour("CentrapayPartialRefundTour")
        refund = self._refunds()
        request = refund.request_id
        self.assertEqual(refund.state, "initiated")
        self.assertAlmostEqual(refund.amount * 3, request.amount, places=2)
        self.assertEqual(
            request._centrapay_refundable(),
            request.currency_id.round(request.amount - refund.amount),
        )

    def test_a_refund_centrapay_refuses(self):
        self.control.configure(refundWindowSeconds=0)
        self.addCleanup(self.control.configure, refundWindowSeconds=90 * 24 * 3600)
        self.start_pos_tour("CentrapayRefusedRefundTour")
        refund = self._refunds()
        self.assertEqual(refund.state, "failed")
        self.assertFalse(refund.pos_order_id)

    def test_a_refund_with_no_refund_order_is_refused(self):
        self.control.clear_calls()
        self.start_pos_tour("CentrapayRefundWithoutRefundOrderTour")
        self.assertFalse(self._refunds())
        refunds_sent = [
            c
            for c in self.control.calls()
            if c["method"] == "POST" and c["path"].endswith("/refund")
        ]
        self.assertFalse(refunds_sent, "nothing was sent to Centrapay")

    def test_a_close_with_a_pending_request_is_stopped_at_the_till(self):
        session = self.main_pos_config.current_session_id
        session.set_opening_control(0, "")
        self.env.flush_all()
        method = self.centrapay_method.with_user(self.pos_user)
        state = method.centrapay_create_request(
            {"amount": 3.0, "payment_uuid": "at-close", "session_id": session.id}
        )
        self.assertEqual(state["status"], "new")
        self.start_pos_tour("CentrapayCloseWithPendingTour")
        self.assertEqual(session.state, "opened", "a refused close leaves it open")
        self.assertFalse(session.centrapay_close_forced_by)


@tagged("post_install", "-at_install")
class TestCentrapayDayTours(CentrapayHttpCommon):
    """A merchant's day, in the browser, as its people would live it."""

    def setUp(self):
        super().setUp()
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.pos_session = self.main_pos_config.current_session_id
        self.Request = self.env["centrapay.payment.request"]

    def orphan(self):
        """A payment taken at Centrapay that no till recorded."""
        self.env.flush_all()
        state = self.centrapay_method.with_user(self.pos_user).centrapay_create_request(
            {"amount": 6.0, "payment_uuid": "orphan", "session_id": self.pos_session.id}
        )
        self.control.pay(state["centrapay_id"])
        request = self.Request.search([("centrapay_id", "=", state["centrapay_id"])])
        request.sudo().write({"last_read_at": False, "next_poll_at": False})
        self.centrapay_method.with_user(self.pos_user).centrapay_get_status(
            state["centrapay_id"], self.pos_session.id
        )
        self.assertEqual(request.status, "paid")
        return request

    def centrapay_net(self, request):
        """What Centrapay holds of a request: its payments less its refunds."""
        client = self.sandbox_client()
        activities = client.list_payment_request_activities(request.centrapay_id)
        cents = sum(
            int(a["value"]["amount"]) * (1 if a["type"] == "payment" else -1)
            for a in activities
            if a["type"] in ("payment", "refund")
        )
        return cents / 100

    def sandbox_client(self):
        from ..centrapay.client import CentrapayClient

        return CentrapayClient(self.sandbox.base_url, self.sandbox.api_key)

    def test_a_day_that_ends(self):
        # The till: a sale of 3 Desk Pads with Centrapay, 1 refunded at the till.
        self.start_pos_tour("CentrapayPartialRefundTour")
        sale = self.Request.search(
            [("payment_method_id", "=", self.centrapay_method.id)]
        )
        self.assertEqual(sale.status, "paid")
        # The back office: a manager refunds 2.00 more of it from its request.
        self.start_tour(
            f"/odoo/action-pos_centrapay.action_centrapay_payment_request/{sale.id}",
            "CentrapayBackOfficeRefundTour",
            login="pos_admin",
        )
        self.assertEqual(
            sorted(sale.refund_ids.mapped("origin")), ["backoffice", "pos"]
        )
        # A payment no till recorded, refunded from reconciliation.
        orphan = self.orphan()
        self.start_tour(
            "/odoo/action-pos_centrapay.action_server_centrapay_reconciliation",
            "CentrapayReconciliationTour",
            login="pos_admin",
        )
        self.assertEqual(orphan.refund_ids.origin, "backoffice")
        # The till closes the day: nothing is left to check.
        self.assertFalse(self.pos_session.centrapay_close_blocked)
        self.start_pos_tour("CentrapayCloseDayTour")
        self.assertEqual(self.pos_session.state, "closed")
        self.assertFalse(self.pos_session.centrapay_close_forced_by)
        # The Centrapay journal holds what Centrapay holds.
        posted = sum(
            self.pos_session.bank_payment_ids.filtered(
                lambda p: p.pos_payment_method_id == self.centrapay_method
            ).mapped("amount_signed")
        )
        held = self.centrapay_net(sale) + self.centrapay_net(orphan)
        self.assertAlmostEqual(self.centrapay_net(orphan), 0, places=2)
        self.assertAlmostEqual(posted, held, places=2)
        self.assertAlmostEqual(held, sale.amount - sale.refunded_amount, places=2)

    def test_a_close_despite_centrapay_is_recorded(self):
        self.pos_session.set_opening_control(0, "")
        self.env.flush_all()
        state = self.centrapay_method.with_user(self.pos_user).centrapay_create_request(
            {"amount": 3.0, "payment_uuid": "waits", "session_id": self.pos_session.id}
        )
        self.start_tour(
            f"/odoo/action-point_of_sale.action_pos_session/{self.pos_session.id}",
            "CentrapayCloseDespiteTour",
            login="pos_admin",
        )
        self.assertEqual(self.pos_session.state, "closed")
        self.assertEqual(self.pos_session.centrapay_close_forced_by, self.pos_admin)
        self.assertIn(
            state["short_code"], self.pos_session.centrapay_close_forced_items
        )


@tagged("post_install", "-at_install")
class TestCentrapayTimerEnds(CentrapayTillCommon):
    """The terminal's timers end without the cashier (CentrapayTimerEndsTour)."""

    centrapay_method_settings = {"centrapay_expiry_seconds": 30}

    def test_timers_end(self):
        """At the POS timeout the till voids once and stops; a line removed
        while its QR waits, and a closed terminal, read no more."""
        stop = engine_beside(self)
        self.start_pos_tour("CentrapayTimerEndsTour", timeout=180)
        stop()
        first = self._requests()[:1]
        # Centrapay expired it, or the till (or the engine) voided it first.
        self.assertIn(first.status, ("expired", "cancelled"))

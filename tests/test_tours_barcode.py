from odoo.tests import tagged

from .common import CentrapayTillCommon


@tagged("post_install", "-at_install")
class TestCentrapayBarcodeTours(CentrapayTillCommon):
    """The barcode flow on the POS (CP-FLOW-4, CP-FLOW-5, CP-FLOW-6)."""

    def test_farmlands_card_scanned_and_paid(self):
        """CP-FLOW-6: a Farmlands card scanned with the POS's scanner is charged."""
        self.start_pos_tour("CentrapayBarcodeFarmlandsTour")
        qr, card = self._requests()
        self.assertEqual(qr.flow, "qr")
        self.assertEqual(qr.status, "cancelled", "the QR was voided for the card")
        self.assertEqual(card.flow, "barcode")
        self.assertEqual(card.barcode_provider, "farmlands")
        self.assertEqual(card.status, "paid")
        self.assertEqual(card.pos_order_id.state, "paid")

    def test_refused_codes_in_words(self):
        """CP-FLOW-4: a bad check digit makes no request; CP-FLOW-6: each
        refusing Farmlands card is shown in words."""
        self.start_pos_tour("CentrapayBarcodeRefusedTour")
        cards = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(
            cards.mapped("cancellation_reason"),
            ["PAYMENT_DECLINED", "PATRON_CODE_EXPIRED", "INACTIVE_ASSET"],
        )

    def test_app_code_typed_and_approved(self):
        """CP-FLOW-6: a typed app code waits for the customer's approval."""
        self.start_pos_tour("CentrapayBarcodeAppTour")
        card = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(card.barcode_provider, "centrapay")
        self.assertEqual(card.status, "paid")

    def test_reload_during_a_barcode_payment(self):
        """A reload resumes the barcode request; it makes no new one."""
        self.start_pos_tour("CentrapayBarcodeReloadTour")
        cards = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(len(cards), 1)
        self.assertEqual(cards.status, "paid")


@tagged("post_install", "-at_install")
class TestCentrapayFarmlandsDiscountTours(CentrapayTillCommon):
    """CP-ASSET-3: the Farmlands discount at the till, for a Farmlands card only."""

    centrapay_method_settings = {"centrapay_farmlands_discount": 5.0}

    def test_a_scanned_farmlands_card_gets_the_discount(self):
        self.start_pos_tour("CentrapayFarmlandsDiscountTour")
        card = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(card.barcode_provider, "farmlands")
        self.assertEqual(card.status, "paid")
        self.assertEqual(card.farmlands_discount_rate, 5.0)
        order = card.pos_order_id
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.lines.mapped("discount"), [5.0])
        self.assertEqual(card.amount, order.amount_total)
        undiscounted = sum(line.price_unit * line.qty for line in order.lines)
        self.assertLess(order.amount_total, undiscounted)

    def test_an_app_code_gets_no_discount(self):
        self.start_pos_tour("CentrapayFarmlandsNoDiscountTour")
        card = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(card.barcode_provider, "centrapay")
        self.assertEqual(card.status, "paid")
        self.assertFalse(card.farmlands_discount_rate)
        self.assertEqual(card.pos_order_id.lines.mapped("discount"), [0.0])

    def test_a_refused_farmlands_card_loses_the_discount(self):
        """A refused card's discount goes: the order is paid in cash, in full."""
        self.start_pos_tour("CentrapayFarmlandsRefusedTour")
        card = self._requests().filtered(lambda r: r.flow == "barcode")
        self.assertEqual(card.barcode_provider, "farmlands")
        self.assertEqual(card.cancellation_reason, "PAYMENT_DECLINED")
        self.assertEqual(card.farmlands_discount_rate, 5.0)
        self.assertFalse(card.pos_payment_id)
        order = self.env["pos.order"].search(
            [("session_id", "=", self.main_pos_config.current_session_id.id)]
        )
        self.assertEqual(order.state, "paid")
        self.assertEqual(order.lines.mapped("discount"), [0.0])
        self.assertEqual(order.amount_total, 1.98)
        self.assertEqual(order.payment_ids.payment_method_id.name, "Cash")
        self.assertEqual(order.payment_ids.amount, 1.98)

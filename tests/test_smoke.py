from odoo.tests import TransactionCase, tagged

from .common import CentrapayHttpCommon


@tagged("post_install", "-at_install")
class TestCentrapayInstalled(TransactionCase):
    def test_centrapay_is_a_payment_terminal(self):
        field = self.env["pos.payment.method"]._fields["use_payment_terminal"]
        options = dict(field._description_selection(self.env))
        self.assertEqual(options.get("centrapay"), "Centrapay")


@tagged("post_install", "-at_install")
class TestCentrapaySmokeTour(CentrapayHttpCommon):
    def test_pos_opens_with_centrapay(self):
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.start_pos_tour("CentrapaySmokeTour")

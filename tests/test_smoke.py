from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestCentrapayInstalled(TransactionCase):
    def test_centrapay_is_a_payment_terminal(self):
        field = self.env["pos.payment.method"]._fields["use_payment_terminal"]
        options = dict(field._description_selection(self.env))
        self.assertEqual(options.get("centrapay"), "Centrapay")

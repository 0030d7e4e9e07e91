from odoo.modules import neutralize
from odoo.tests import tagged

from .common import CentrapayCommon


@tagged("post_install", "-at_install")
class TestCentrapayNeutralize(CentrapayCommon):
    def test_a_neutralized_copy_gets_its_own_uuid_and_no_key(self):
        Param = self.env["ir.config_parameter"].sudo()
        before = Param.get_param("database.uuid")
        Request = self.env["centrapay.payment.request"]
        ref_before = Request._centrapay_new_external_ref({"order_name": "Order 1"})
        # What `odoo-bin neutralize` runs, as core's own neutralize test does.
        modules = neutralize.get_installed_modules(self.cr)
        for query in neutralize.get_neutralization_queries(modules):
            self.cr.execute(query)
        # A neutralized copy starts afresh: nothing cached from before.
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        after = Param.get_param("database.uuid")
        self.assertTrue(after)
        self.assertNotEqual(after[:8], before[:8])
        ref_after = Request._centrapay_new_external_ref({"order_name": "Order 1"})
        self.assertNotEqual(ref_after.split("/")[1], ref_before.split("/")[1])
        self.assertFalse(self.method.sudo().centrapay_api_key)
        self.assertFalse(self.method.centrapay_webhook_enabled)

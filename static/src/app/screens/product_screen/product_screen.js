import {findPendingCentrapayLine} from "@pos_centrapay/app/payment/payment_centrapay";
import {ProductScreen} from "@point_of_sale/app/screens/product_screen/product_screen";
import {onMounted} from "@odoo/owl";
import {patch} from "@web/core/utils/patch";

patch(ProductScreen.prototype, {
    setup() {
        super.setup(...arguments);
        // After a reload mid-payment the POS opens on the products: go back to the
        // payment, which resumes waiting for the Centrapay request.
        onMounted(() => {
            const pending = findPendingCentrapayLine(this.currentOrder);
            if (pending) {
                this.pos.showScreen("PaymentScreen", {
                    orderUuid: this.currentOrder.uuid,
                });
            }
        });
    },
});

import {PosOrder} from "@point_of_sale/app/models/pos_order";
import {patch} from "@web/core/utils/patch";

patch(PosOrder.prototype, {
    /** The customer display also says what paid (CP-CORE-2): Centrapay's paidBy. */
    getCustomerDisplayData() {
        return {
            ...super.getCustomerDisplayData(...arguments),
            centrapayPaidBy: this.payment_ids
                .map((payment) => payment.centrapay_paid_by)
                .filter(Boolean),
        };
    },
});

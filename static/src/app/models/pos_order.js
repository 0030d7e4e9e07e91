import {PosOrder} from "@point_of_sale/app/models/pos_order";
import {formatCurrency} from "@web/core/currency";
import {patch} from "@web/core/utils/patch";

patch(PosOrder.prototype, {
    /**
     * The customer display also says what paid (CP-CORE-2): Centrapay's
     * paidBy; and, once Centrapay paid part of the order (a partial payment,
     * CP-EXT-14), what is still due.
     */
    getCustomerDisplayData() {
        const data = super.getCustomerDisplayData(...arguments);
        const centrapayPaid = this.payment_ids.some(
            (payment) =>
                payment.payment_method_id?.use_payment_terminal === "centrapay" &&
                payment.amount > 0 &&
                payment.is_done()
        );
        const due = this.get_due();
        return {
            ...data,
            centrapayPaidBy: this.payment_ids
                .map((payment) => payment.centrapay_paid_by)
                .filter(Boolean),
            centrapayDue:
                centrapayPaid && due > 0 && !this.finalized
                    ? formatCurrency(due, this.currency.id)
                    : false,
        };
    },
});

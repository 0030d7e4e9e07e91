import {PosOrder} from "@point_of_sale/app/models/pos_order";
import {patch} from "@web/core/utils/patch";
import {registry} from "@web/core/registry";

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
        const stillDue = centrapayPaid && due > 0 && !this.finalized;
        return {
            ...data,
            // Odoo shows the amount due as a negative change: "Still due" says it.
            change: stillDue ? false : data.change,
            centrapayPaidBy: this.payment_ids
                .map((payment) => payment.centrapay_paid_by)
                .filter(Boolean),
            // Formatted as Odoo formats the display's other amounts.
            centrapayDue: stillDue
                ? registry.category("formatters").get("monetary")(due)
                : false,
        };
    },
});

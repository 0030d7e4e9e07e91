import {PosStore} from "@point_of_sale/app/store/pos_store";
import {patch} from "@web/core/utils/patch";

patch(PosStore.prototype, {
    async setup() {
        await super.setup(...arguments);
        this.data.connectWebSocket("CENTRAPAY_STATUS", (payload) => {
            for (const method of this.models["pos.payment.method"].getAll()) {
                if (method.use_payment_terminal === "centrapay") {
                    method.payment_terminal?.onStatusPushed(payload);
                }
            }
        });
    },

    /** Deleting an order gives its partly paid Centrapay payments back. */
    async _onBeforeDeleteOrder(order) {
        for (const line of order.payment_ids) {
            const terminal = line.payment_method_id.payment_terminal;
            if (
                line.payment_method_id.use_payment_terminal === "centrapay" &&
                line.centrapay_request_id &&
                line.amount > 0 &&
                line.get_payment_status() === "done" &&
                !(await terminal.centrapayAbandon(line))
            ) {
                return false;
            }
        }
        return super._onBeforeDeleteOrder(...arguments);
    },

    /** The Centrapay button says "Centrapay" (or "Farmlands", CP-CORE-3). */
    getPaymentMethodDisplayText(pm, order) {
        const text = super.getPaymentMethodDisplayText(...arguments);
        if (pm.use_payment_terminal !== "centrapay" || !pm.centrapay_label) {
            return text;
        }
        return text.replace(pm.name, pm.centrapay_label);
    },
});

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

    /** The Centrapay button says "Centrapay" (or "Farmlands", CP-CORE-3). */
    getPaymentMethodDisplayText(pm, order) {
        const text = super.getPaymentMethodDisplayText(...arguments);
        if (pm.use_payment_terminal !== "centrapay" || !pm.centrapay_label) {
            return text;
        }
        return text.replace(pm.name, pm.centrapay_label);
    },
});

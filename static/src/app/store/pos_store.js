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
});

import {findPendingCentrapayLine} from "@pos_centrapay/app/payment/payment_centrapay";
import {PaymentScreen} from "@point_of_sale/app/screens/payment_screen/payment_screen";
import {onMounted} from "@odoo/owl";
import {patch} from "@web/core/utils/patch";

patch(PaymentScreen.prototype, {
    setup() {
        super.setup(...arguments);
        onMounted(() => this.centrapayResumePendingLine());
    },

    /** After a reload mid-payment, send the line again: the server resumes it. */
    async centrapayResumePendingLine() {
        const line = findPendingCentrapayLine(this.currentOrder);
        const terminal = line?.payment_method_id.payment_terminal;
        if (!terminal || terminal.waits[line.uuid]) {
            return;
        }
        await this.sendPaymentRequest(line);
    },
});

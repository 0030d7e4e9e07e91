import {findPendingCentrapayLine} from "@pos_centrapay/app/payment/payment_centrapay";
import {PaymentScreen} from "@point_of_sale/app/screens/payment_screen/payment_screen";
import {onMounted} from "@odoo/owl";
import {patch} from "@web/core/utils/patch";

patch(PaymentScreen.prototype, {
    setup() {
        super.setup(...arguments);
        onMounted(() => this.centrapayResumePendingLine());
    },

    /** After a reload mid-payment, wait again for the request the line holds. */
    async centrapayResumePendingLine() {
        const line = findPendingCentrapayLine(this.currentOrder);
        const terminal = line?.payment_method_id.payment_terminal;
        if (!terminal || terminal.waits[line.uuid]) {
            return;
        }
        this.pos.paymentTerminalInProgress = true;
        const paid = await terminal.resume(line);
        line.handle_payment_response(paid);
        this.pos.paymentTerminalInProgress = false;
        // As sendPaymentRequest does for a payment that completes without a reload.
        if (
            paid &&
            this.currentOrder.is_paid() &&
            this.pos.config.auto_validate_terminal_payment
        ) {
            this.validateOrder(false);
        }
    },
});

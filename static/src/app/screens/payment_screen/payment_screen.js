import {onMounted} from "@odoo/owl";
import {findPendingCentrapayLine} from "@pos_centrapay/app/payment/payment_centrapay";
import {PaymentScreen} from "@point_of_sale/app/screens/payment_screen/payment_screen";
import {patch} from "@web/core/utils/patch";
import {useBus} from "@web/core/utils/hooks";

patch(PaymentScreen.prototype, {
    setup() {
        super.setup(...arguments);
        onMounted(() => this.centrapayResumePendingLine());
        // The QR screen's Cancel (and its x, Escape) is core's cancel flow.
        useBus(this.env.bus, "CENTRAPAY:CANCEL", ({detail}) => {
            const line = this.paymentLines.find((l) => l.uuid === detail.line.uuid);
            if (line) {
                this.sendPaymentCancel(line);
            }
        });
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

/**
 * CP-EXT-14, the customer's half: while a request waits, the customer display
 * follows Centrapay's latest ``remainingAmount`` (the QR screen's data is
 * rebuilt when it changes); the order view says what is still due after a
 * partial payment (models/pos_order.js).
 */
import {PaymentCentrapay} from "@pos_centrapay/app/payment/payment_centrapay";
import {patch} from "@web/core/utils/patch";

patch(PaymentCentrapay.prototype, {
    _onServerState(wait, state) {
        super._onServerState(...arguments);
        const line = wait.line;
        const shown = line.qrPaymentData?.centrapay;
        if (!state.final && shown && this._isCurrent(wait)) {
            const data = this._centrapayQrPaymentData(line, wait.state);
            if (data.centrapay.remaining !== shown.remaining) {
                line.qrPaymentData = data;
            }
        }
    },
});

/**
 * The barcode flow (CP-FLOW-4 to CP-FLOW-6): on the Centrapay screen the
 * cashier scans or types the customer's code (a Centrapay app code or a
 * Farmlands card) instead of showing the QR code. The server checks and
 * decodes the code, voids the QR request and makes one with the code; a
 * refused code leaves the QR request as it was, with the reason in words.
 */
import {PaymentCentrapay} from "@pos_centrapay/app/payment/payment_centrapay";
import {_t} from "@web/core/l10n/translation";
import {patch} from "@web/core/utils/patch";

patch(PaymentCentrapay.prototype, {
    _waitForFinal(line, serverState) {
        const result = super._waitForFinal(...arguments);
        if (serverState.flow === "barcode" && this.waits[line.uuid]) {
            // No QR code for the customer display: the customer shows theirs.
            line.qrPaymentData = null;
        }
        return result;
    },

    /** The cashier scanned or typed ``code`` on the Centrapay screen of ``line``. */
    async centrapayUseBarcode(line, code) {
        const wait = this.waits[line.uuid];
        if (!this._isCurrent(wait) || wait.state.recreating) {
            return;
        }
        wait.state.recreating = true;
        wait.state.barcode_error = false;
        const state = await this._call(
            "centrapay_create_request",
            this._createData(line.pos_order_id, line, {barcode: code})
        );
        if (!this._isCurrent(wait)) {
            return;
        }
        wait.state.recreating = false;
        if (!state || state.error) {
            // Nothing changed on the server: the QR code stays valid.
            wait.state.barcode_error =
                state?.error ||
                _t("Centrapay could not take this code. Scan it again, or type it.");
            return;
        }
        if (state.centrapay_id === line.centrapay_request_id) {
            return;
        }
        const {resolve} = wait;
        this._stopWaiting(line.uuid);
        line.update({
            centrapay_request_id: state.centrapay_id,
            centrapay_short_code: state.short_code,
        });
        this._waitForFinal(line, state).then(resolve);
    },
});

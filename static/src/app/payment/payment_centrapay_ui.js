/**
 * What the QR screen and the customer display show of a Centrapay request:
 * its status in words until the end (the final word stays readable a moment
 * before the QR code closes, while the payment line completes at once), what
 * paid it, and the "customer not present" option (CP-EXT-10).
 */
import {
    CENTRAPAY_FINAL_STATUSES,
    centrapayQrPaymentData,
} from "@pos_centrapay/common/centrapay_status";
import {PaymentCentrapay} from "@pos_centrapay/app/payment/payment_centrapay";
import {_t} from "@web/core/l10n/translation";
import {patch} from "@web/core/utils/patch";

// How long the final word (Paid, Cancelled, Expired) stays on the QR screen.
export const CENTRAPAY_FINAL_WORD_MS = 1500;

patch(PaymentCentrapay.prototype, {
    setup() {
        super.setup(...arguments);
        // Payment line uuid -> {close, timer, line}: a final QR screen still shown.
        this.lingering = {};
        this.errorsAfterLinger = [];
    },

    _waitForFinal(line, serverState) {
        this._closeLingering(line.uuid);
        const result = super._waitForFinal(...arguments);
        const wait = this.waits[line.uuid];
        if (wait && line.qrPaymentData) {
            line.qrPaymentData = this._centrapayQrPaymentData(line, wait.state);
        }
        return result;
    },

    _centrapayQrPaymentData(line, state) {
        return centrapayQrPaymentData({
            name: line.payment_method_id.centrapay_label || line.payment_method_id.name,
            amount: this.env.utils.formatCurrency(line.amount),
            state,
        });
    },

    async _askServer(wait) {
        if (wait?.state.recreating) {
            return; // Its request is being replaced (customer not present).
        }
        return super._askServer(...arguments);
    },

    _settle(line, state, wait) {
        if (!this._isCurrent(wait) || wait.state.recreating) {
            return;
        }
        if (state.status === "paid") {
            line.centrapay_paid_by = state.paid_by || false;
        }
        return super._settle(...arguments);
    },

    /** A final request keeps its QR screen, showing the final word, a moment. */
    _stopWaiting(uuid) {
        const wait = this.waits[uuid];
        if (!wait || !CENTRAPAY_FINAL_STATUSES.includes(wait.state.status)) {
            return super._stopWaiting(uuid);
        }
        const close = wait.closeDialog;
        wait.closeDialog = null;
        super._stopWaiting(uuid);
        const line = wait.line;
        line.qrPaymentData = this._centrapayQrPaymentData(line, wait.state);
        this.lingering[uuid] = {
            close,
            line,
            timer: setTimeout(
                () => this._closeLingering(uuid),
                CENTRAPAY_FINAL_WORD_MS
            ),
        };
    },

    _closeLingering(uuid) {
        const lingering = this.lingering[uuid];
        if (lingering) {
            delete this.lingering[uuid];
            clearTimeout(lingering.timer);
            lingering.close?.();
            if (!this.waits[uuid]) {
                lingering.line.qrPaymentData = null;
            }
        }
        if (!Object.keys(this.lingering).length) {
            // Shown once the QR screen is gone, so that dialogs close in order.
            for (const message of this.errorsAfterLinger.splice(0)) {
                super._showError(message);
            }
        }
    },

    _showError(message) {
        if (Object.keys(this.lingering).length) {
            this.errorsAfterLinger.push(message);
        } else {
            super._showError(message);
        }
    },

    close() {
        super.close();
        for (const uuid of Object.keys(this.lingering)) {
            this._closeLingering(uuid);
        }
    },

    /**
     * The cashier ticks or unticks "customer not present" on the QR screen: the
     * shown request is voided and a new one made with ``patronNotPresent``.
     * The payment line keeps waiting throughout; a request the patron paid
     * meanwhile is kept as the payment.
     */
    async centrapaySetPatronNotPresent(line, notPresent) {
        const wait = this.waits[line.uuid];
        if (!this._isCurrent(wait) || wait.state.recreating) {
            return;
        }
        wait.state.recreating = true;
        const before = line.centrapay_patron_not_present;
        line.centrapay_patron_not_present = notPresent;
        const old = await this._call(
            "centrapay_cancel_request",
            line.centrapay_request_id,
            this.pos.session.id
        );
        if (!this._isCurrent(wait)) {
            return;
        }
        const {resolve} = wait;
        wait.state.recreating = false;
        this._stopWaiting(line.uuid);
        if (old && !old.error && ["cancelled", "expired"].includes(old.status)) {
            this.send_payment_request(line.uuid).then(resolve);
            return;
        }
        // Not voided (paid, or Centrapay did not confirm): keep that request.
        line.centrapay_patron_not_present = before;
        if (old?.status !== "paid") {
            this._showError(
                old?.error ||
                    _t(
                        "Centrapay has not confirmed the cancellation yet, so the first QR code stays. The customer can pay it; untick and tick the option again to retry."
                    )
            );
        }
        const state = old && !old.error ? old : {...wait.state};
        this._waitForFinal(line, state).then(resolve);
    },
});

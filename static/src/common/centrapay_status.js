/**
 * The words for a Centrapay request's status, in one place (CP-CORE-15,
 * CP-POS-8): the POS's QR screen and the customer display both use them.
 */
import {_t} from "@web/core/l10n/translation";

export const CENTRAPAY_FINAL_STATUSES = ["paid", "cancelled", "expired", "error"];

/** Why a request was cancelled (doc §4.3, and our own REFUNDED_BY_VOID, §4.1). */
const CANCELLATION_REASONS = {
    CANCELLED_BY_MERCHANT: () => _t("merchant cancelled"),
    CANCELLED_BY_PATRON: () => _t("patron cancelled"),
    PATRON_CODE_INVALID: () => _t("patron code invalid"),
    PATRON_CODE_EXPIRED: () => _t("patron code expired"),
    PAYMENT_FAILED: () => _t("payment failed"),
    DECLINED_BY_PATRON: () => _t("patron declined"),
    DECLINED_BY_MERCHANT: () => _t("merchant declined"),
    PAYMENT_DECLINED: () => _t("payment declined"),
    PAYMENT_REQUEST_EXPIRED: () => _t("expired"),
    NO_AVAILABLE_PAYMENT_OPTIONS: () => _t("no payment option available"),
    INACTIVE_ASSET: () => _t("the patron's asset is inactive"),
    REFUNDED_BY_VOID: () => _t("paid too late, refunded"),
};

/** The reason codes that have words (for tests). */
export const CENTRAPAY_CANCELLATION_CODES = Object.keys(CANCELLATION_REASONS);

/** A cancellation reason in words; an unknown code is named as it came. */
export function centrapayCancellationReason(code) {
    if (!code) {
        return "";
    }
    const words = CANCELLATION_REASONS[code];
    return words ? words() : _t("other reason (%s)", code);
}

/**
 * What the screens say about a request: ``word`` (Waiting for payment, Paid,
 * Cancelled, Expired, Failed) and ``detail`` (the cancellation reason in words,
 * or the error).
 */
export function centrapayStatusText(state) {
    switch (state?.status) {
        case "paid":
            return {word: _t("Paid"), detail: ""};
        case "cancelled":
            return {
                word: _t("Cancelled"),
                detail: centrapayCancellationReason(state.cancellation_reason),
            };
        case "expired":
            return {word: _t("Expired"), detail: ""};
        case "error":
            return {word: _t("Failed"), detail: state.error || ""};
        default:
            return {word: _t("Waiting for payment"), detail: ""};
    }
}

/**
 * The POS's ``qrPaymentData`` for a Centrapay request, as Odoo's customer
 * display expects it (``name``, ``amount``, ``qrCode``) plus what our display
 * shows (``centrapay``). ``deadline`` is in the POS's clock (ms), like the
 * countdown on the POS: the display runs on the same machine.
 */
export function centrapayQrPaymentData({name, amount, state}) {
    return {
        name,
        amount,
        qrCode: state.qr,
        centrapay: {
            status: state.status,
            cancellation_reason: state.cancellation_reason || false,
            error: state.error || false,
            short_code: state.short_code || false,
            paid_by: state.paid_by || false,
            deadline: state.deadline || 0,
            patron_not_present: Boolean(state.patron_not_present),
        },
    };
}

/** ``m:ss`` until ``deadline`` (ms) at ``now`` (ms), never below 0:00. */
export function centrapayCountdown(deadline, now) {
    const seconds = Math.max(0, Math.ceil((deadline - now) / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

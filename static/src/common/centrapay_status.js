/**
 * The words for a Centrapay request's status, in one place (CP-CORE-15,
 * CP-POS-8): the POS's QR screen and the customer display both use them.
 */
import {_t} from "@web/core/l10n/translation";

export const CENTRAPAY_FINAL_STATUSES = ["paid", "cancelled", "expired", "error"];

/** Why a request was cancelled (doc §4.3, and our own REFUNDED_BY_VOID, §4.1). */
const CANCELLATION_REASONS = {
    CANCELLED_BY_MERCHANT: () => _t("cancelled by the shop"),
    CANCELLED_BY_PATRON: () => _t("cancelled by the customer in their app"),
    PATRON_CODE_INVALID: () => _t("the customer's code is not valid"),
    PATRON_CODE_EXPIRED: () => _t("the customer's code has expired"),
    PAYMENT_FAILED: () => _t("the payment failed"),
    DECLINED_BY_PATRON: () => _t("the customer declined a check"),
    DECLINED_BY_MERCHANT: () => _t("the till declined a check"),
    PAYMENT_DECLINED: () => _t("the customer's payment method declined it"),
    PAYMENT_REQUEST_EXPIRED: () => _t("the customer did not pay in time"),
    NO_AVAILABLE_PAYMENT_OPTIONS: () => _t("no payment option fits this payment"),
    INACTIVE_ASSET: () => _t("the customer's payment method is not active"),
    REFUNDED_BY_VOID: () =>
        _t("paid too late: Centrapay gave the money back to the customer"),
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
 * What a request waits for: the till's or the customer's answer to a condition
 * (doc §10.2), the customer's payment (QR code), the customer's approval in
 * their app, or the charge of a Farmlands card (barcode flow).
 */
export function centrapayWaitingWord(state) {
    if (state?.awaiting_merchant?.length) {
        return _t("Waiting for the till to answer Centrapay's check");
    }
    if (state?.awaiting_patron?.length) {
        return _t("Waiting for the customer to answer in their app");
    }
    if (state?.flow === "barcode" && state.barcode_provider === "farmlands") {
        return _t("Charging the Farmlands card");
    }
    if (state?.flow === "barcode") {
        return _t("Waiting for the customer to approve in their app");
    }
    return _t("Waiting for payment");
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
                detail:
                    state.centrapay_ended_by === "cashier"
                        ? _t("cancelled at the till")
                        : centrapayCancellationReason(state.cancellation_reason),
            };
        case "expired":
            return {word: _t("Expired"), detail: ""};
        case "error":
            return {
                word:
                    state.centrapay_ended_by === "unreadable"
                        ? _t("Status unknown")
                        : _t("Failed"),
                detail: state.error || "",
            };
        default:
            return {word: centrapayWaitingWord(state), detail: ""};
    }
}

/**
 * What a Centrapay payment line that was not paid says, in plain words, and
 * what the cashier does next: ``word`` (what happened) and ``next``.
 * ``state.centrapay_ended_by``: ``cashier`` (the cashier's own cancel),
 * ``timeout`` (the till gave up at expiry) or ``unreadable`` (the server no
 * longer answers for this request).
 */
export function centrapayOutcome(state) {
    const retry =
        state?.flow === "barcode"
            ? _t(
                  "Press Retry to scan another code or show a QR code, or take the payment another way."
              )
            : _t("Press Retry for a new QR code, or take the payment another way.");
    const reason = state?.cancellation_reason;
    if (state?.centrapay_ended_by === "unreadable") {
        return {
            word: _t("Payment status unknown: %s", state.error || ""),
            next: _t(
                "Do not take the payment again yet: ask a manager to look up short code %s in Point of Sale > Centrapay Requests.",
                state.short_code || ""
            ),
        };
    }
    if (
        state?.status === "expired" ||
        reason === "PAYMENT_REQUEST_EXPIRED" ||
        state?.centrapay_ended_by === "timeout"
    ) {
        return {word: _t("Expired: the customer did not pay in time."), next: retry};
    }
    if (state?.status === "cancelled" && state?.centrapay_ended_by === "cashier") {
        return {
            word: _t("Cancelled at the till."),
            next: _t("Press Retry for a new QR code, or remove the line."),
        };
    }
    if (state?.status === "cancelled" && reason === "CANCELLED_BY_PATRON") {
        return {
            word: _t("Cancelled by the customer in their app."),
            next: _t(
                "Ask the customer, then press Retry for a new QR code, or take the payment another way."
            ),
        };
    }
    if (state?.status === "cancelled") {
        return {
            word: reason
                ? _t("Not paid: %s.", centrapayCancellationReason(reason))
                : _t("Not paid: the payment request was cancelled."),
            next: retry,
        };
    }
    return {
        word: state?.error
            ? _t("Not paid: %s", state.error)
            : _t("Not paid: the Centrapay payment failed."),
        next: retry,
    };
}

/**
 * The POS's ``qrPaymentData`` for a Centrapay request, as Odoo's customer
 * display expects it (``name``, ``amount``, ``qrCode``) plus what our display
 * shows (``centrapay``). ``deadline`` is in the POS's clock (ms), like the
 * countdown on the POS: the display runs on the same machine. ``format``
 * formats an amount of the POS's currency (the remainder, CP-EXT-14).
 */
export function centrapayQrPaymentData({name, amount, state, format}) {
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
            ...centrapayRemainder(state, format),
        },
    };
}

/**
 * What is left of a request (CP-EXT-14, doc §10.3), formatted with ``format``:
 * while it waits and other tenders paid part of it, ``remaining`` (still to pay
 * through Centrapay); once the customer paid part, ``taken`` (what Centrapay
 * took) and ``remaining`` (still due in another tender). False otherwise.
 */
export function centrapayRemainder(state, format) {
    const left = state?.remaining_amount;
    if (!format || !(left > 0)) {
        return {taken: false, remaining: false};
    }
    if (state.status === "paid") {
        return {taken: format(state.paid_amount), remaining: format(left)};
    }
    if (state.status === "new" && left < state.amount) {
        return {taken: false, remaining: format(left)};
    }
    return {taken: false, remaining: false};
}

/** ``m:ss`` until ``deadline`` (ms) at ``now`` (ms), never below 0:00. */
export function centrapayCountdown(deadline, now) {
    const seconds = Math.max(0, Math.ceil((deadline - now) / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

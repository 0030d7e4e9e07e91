/**
 * The Centrapay terminal of the POS: the QR Code Flow and the barcode flow
 * (CP-FLOW-4 to CP-FLOW-6). The Odoo server talks to Centrapay; the POS shows
 * the QR code of the request's url (or takes the customer's code) and waits
 * for the server to say the request is final. The QR screen and the customer
 * display say its status in words until the end: the final word stays
 * readable a moment before the QR code closes, while the payment line
 * completes at once.
 */
import {AlertDialog} from "@web/core/confirmation_dialog/confirmation_dialog";
import {WORKER_STATE} from "@bus/workers/websocket_worker";
import {
    CENTRAPAY_FINAL_STATUSES,
    centrapayOutcome,
    centrapayQrPaymentData,
} from "@pos_centrapay/common/centrapay_status";
import {ConnectionLostError} from "@web/core/network/rpc";
import {
    centrapayBasket,
    centrapayLineItems,
} from "@pos_centrapay/app/payment/centrapay_basket";
import {CentrapayQrDialog} from "@pos_centrapay/app/components/centrapay_qr_dialog/centrapay_qr_dialog";
import {centrapayQrDataUri} from "@pos_centrapay/app/utils/centrapay_qr";
import {PaymentInterface} from "@point_of_sale/app/payment/payment_interface";
import {SelectionPopup} from "@point_of_sale/app/utils/input_popups/selection_popup";
import {TextInputPopup} from "@point_of_sale/app/utils/input_popups/text_input_popup";
import {ask, makeAwaitable} from "@point_of_sale/app/store/make_awaitable_dialog";
import {_t} from "@web/core/l10n/translation";
import {reactive} from "@odoo/owl";
import {register_payment_method} from "@point_of_sale/app/store/pos_store";
import {uuidv4} from "@point_of_sale/utils";

// How long the final word (Paid, Cancelled, Expired) stays on the QR screen.
export const CENTRAPAY_FINAL_WORD_MS = 1500;
// The bus pushes every change and the status reads are its fallback, one timer
// per waiting line. While the bus is down the till reads every 2 s, waiting
// twice as long after each read that did not reach the server, up to 30 s.
// While the bus is up it reads only as often as the server's last answer asks
// (``poll_ms``: a second on a server whose status engine is not running, where
// the tills' reads drive it; never while it runs), and once at the POS timeout
// to void; after that void, every 15 s until the final word comes.
const POLL_MS = 2000;
const POLL_BUS_UP_MS = 15000;
const POLL_MAX_MS = 30000;
// "No read before the POS timeout" (the timer is capped at the timeout).
const NO_READ_MS = 24 * 3600 * 1000;
// Refused status reads in a row after which the till stops waiting: the server
// no longer answers for this request (e.g. its session was closed).
const MAX_REFUSED_READS = 2;
// A create that did not reach the server, for a line whose request may be paid
// already, is tried again after 2, 4, 8 and 16 s; then the cashier is told.
const CREATE_RETRIES = 4;
// Past the POS timeout, a till that has not reached the server for 2 minutes
// stops and says the status is unknown (the server's engine voids the request).
const UNREACHABLE_GIVE_UP_MS = 120000;

/** The order's Centrapay line still waiting for its request, e.g. after a reload. */
export function findPendingCentrapayLine(order) {
    return order?.payment_ids.find(
        (line) =>
            line.payment_method_id.use_payment_terminal === "centrapay" &&
            line.centrapay_request_id &&
            ["waiting", "waitingCard", "waitingCancel"].includes(
                line.get_payment_status()
            )
    );
}

export class PaymentCentrapay extends PaymentInterface {
    setup() {
        super.setup(...arguments);
        // Payment line uuid -> {id, line, state, resolve, timer, closeDialog, ...}
        this.waits = {};
        this.lastWaitId = 0;
        // Payment line uuid -> {timer, resolve}: a create waiting to be tried again.
        this.pauses = {};
        // Lines whose cancel came while their request was being created.
        this.cancelledDuringCreate = new Set();
        // Payment line uuid -> {close, timer, line}: a final QR screen still shown.
        this.lingering = {};
        this.errorsAfterLinger = [];
        // Payment line uuid -> {order, rate}: the Farmlands discount it gave.
        this.farmlandsDiscounts = {};
        // The bus went down: the waiting lines read at the bus-down pace now,
        // not at their next read planned while it delivered.
        this._onBusState = ({detail}) => {
            if (detail !== WORKER_STATE.CONNECTED) {
                for (const wait of Object.values(this.waits)) {
                    if (wait.timer && wait.delay > POLL_MS) {
                        this._readLater(wait, POLL_MS);
                    }
                }
            }
        };
        this.env.services.bus_service.addEventListener(
            "worker_state_updated",
            this._onBusState
        );
    }

    // The terminal lives on a reactive record: compare ids, not (proxied) objects.
    _isCurrent(wait) {
        return Boolean(wait) && this.waits[wait.line.uuid]?.id === wait.id;
    }

    /** The line was removed, or its order deleted or finalized. */
    _lineGone(line) {
        const order = line.pos_order_id;
        return (
            !order ||
            order.finalized ||
            !order.payment_ids.some((payment) => payment.uuid === line.uuid) ||
            !this.pos.models["pos.order"].some((other) => other.uuid === order.uuid)
        );
    }

    async send_payment_request(uuid) {
        await super.send_payment_request(...arguments);
        const order = this.pos.get_order();
        const line = order.get_paymentline_by_uuid(uuid);
        if (line.amount < 0) {
            return this._sendRefund(order, line);
        }
        line.set_payment_status("waiting");
        // After a reload this resumes: the server hands back the line's open
        // request (or the one paid meanwhile) instead of making another.
        const create = () =>
            this._call("centrapay_create_request", this._createData(order, line));
        let state = await create();
        // Offline with a request already sent, it may still be paid: ask again a
        // few times, unless the cashier cancels or the line goes away.
        for (
            let attempt = 0;
            state?.offline && line.centrapay_request_id && attempt < CREATE_RETRIES;
            attempt++
        ) {
            if (
                !(await this._pause(uuid, POLL_MS * 2 ** attempt)) ||
                this._lineGone(line)
            ) {
                return false;
            }
            state = await create();
        }
        if (!state || state.error) {
            // A cancel pressed during a failed create must not void the next try.
            this.cancelledDuringCreate.delete(line.uuid);
            this._showError(
                state?.error ||
                    _t(
                        "Centrapay could not create the payment request. Press Retry, or take the payment another way."
                    )
            );
            return false;
        }
        if (this.cancelledDuringCreate.delete(line.uuid)) {
            // Nobody will show this QR code: void it at once.
            await this._call(
                "centrapay_cancel_request",
                state.centrapay_id,
                this.pos.session.id
            );
            return false;
        }
        line.update({
            centrapay_request_id: state.centrapay_id,
            centrapay_short_code: state.short_code,
        });
        line.set_payment_status("waitingCard");
        return this._waitForFinal(line, state);
    }

    /** Resolves true after ``ms``, or false at once if the line's wait is ended. */
    _pause(uuid, ms) {
        return new Promise((resolve) => {
            const timer = setTimeout(() => {
                delete this.pauses[uuid];
                resolve(true);
            }, ms);
            this.pauses[uuid] = {timer, resolve};
        });
    }

    _endPause(uuid) {
        const pause = this.pauses[uuid];
        if (pause) {
            delete this.pauses[uuid];
            clearTimeout(pause.timer);
            pause.resolve(false);
        }
    }

    /** What the create RPC gets for a line; ``extra``: e.g. the patron's code. */
    _createData(order, line, extra = {}) {
        return {
            amount: line.amount,
            payment_uuid: line.uuid,
            order_uuid: order.uuid,
            order_name: order.pos_reference || order.name,
            session_id: this.pos.session.id,
            device_id: this._deviceId(),
            line_items: centrapayLineItems(order),
            basket: centrapayBasket(order, line),
            patron_not_present: Boolean(line.centrapay_patron_not_present),
            ...extra,
        };
    }

    /**
     * Core's payment screen calls this (the line's Cancel, its removal, and
     * the QR screen's Cancel through ``_cancelFromDialog``) and sets the
     * line's status from the answer: true when the request was voided.
     */
    async send_payment_cancel(order, uuid) {
        await super.send_payment_cancel(...arguments);
        this._endPause(uuid);
        const line = order.get_paymentline_by_uuid(uuid);
        const wait = this.waits[uuid];
        if (line) {
            line.centrapay_outcome = false;
        }
        if (!line?.centrapay_request_id) {
            // The request is still being created: void it as soon as it exists.
            this.cancelledDuringCreate.add(uuid);
            return true;
        }
        if (this._isCurrent(wait)) {
            // The cashier's own cancel: its outcome needs no popup.
            wait.state.centrapay_ended_by = "cashier";
        }
        const state = await this._call(
            "centrapay_cancel_request",
            line.centrapay_request_id,
            this.pos.session.id
        );
        if (!state || state.error || !state.final) {
            if (this._isCurrent(wait)) {
                wait.state.centrapay_ended_by = false;
            }
            this._showError(
                state?.error ||
                    (state
                        ? // The void did not go through (yet): the server retries.
                          _t(
                              "Centrapay has not confirmed the cancellation yet. The QR code stays: wait for the result, or press Cancel payment again."
                          )
                        : _t(
                              "Centrapay could not cancel the request. Press Cancel payment again; if it keeps failing, ask a manager."
                          ))
            );
            return false;
        }
        // The payment screen sets the line's status from our answer; then the
        // server's final state (read again, so after that) settles the line: a
        // request paid before the void went through stays paid.
        if (this._isCurrent(wait)) {
            this._askServer(wait, "centrapay_get_status", {quiet: true});
        } else if (state.status === "paid") {
            // Nothing follows this line (e.g. its create was being retried):
            // complete it as a terminal whose resolver was lost does
            // (pos_viva_wallet), through core's handle_payment_response.
            this._call(
                "centrapay_get_status",
                line.centrapay_request_id,
                this.pos.session.id
            ).then((paid) => {
                if (paid?.status === "paid" && !this._lineGone(line)) {
                    this._recordPaid(line, paid);
                    line.handle_payment_response(true);
                }
            });
        }
        return state.status !== "paid";
    }

    /** The QR screen's Cancel, its x or Escape: core's cancel, on the payment screen. */
    _cancelFromDialog(line) {
        this.env.bus.trigger("CENTRAPAY:CANCEL", {line});
    }

    /**
     * Refund a Centrapay payment (a negative line). It goes against the
     * refunded order's Centrapay payment (the cashier picks one when there are
     * several), or the one whose short code the cashier types or scans. The
     * server says how much may go back (the returned lines, less what was
     * refunded already); the cashier confirms, then the server sends it and
     * answers once Centrapay accepted it. The same line resends the same
     * refund, so a retry never refunds twice.
     */
    async _sendRefund(order, line) {
        line.set_payment_status("waiting");
        const target = line.centrapay_request_id
            ? {centrapay_id: line.centrapay_request_id}
            : await this._refundTarget(order);
        if (!target) {
            return false;
        }
        const request = {
            payment_uuid: line.uuid,
            session_id: this.pos.session.id,
            order_uuid: order.uuid,
            refunded_lines: this._refundedLines(order),
            ...target,
        };
        if (!line.centrapay_request_id) {
            const quote = await this._call("centrapay_refund_quote", request);
            if (!quote || quote.error) {
                this._showError(
                    quote?.error || _t("Centrapay could not check the refund.")
                );
                return false;
            }
            if (!(await this._confirmRefund(line, quote))) {
                return false;
            }
            // Known before the call: a reload during the refund resumes it.
            line.update({centrapay_request_id: quote.centrapay_id});
            request.centrapay_id = quote.centrapay_id;
            delete request.short_code;
        }
        const state = await this._call("centrapay_refund_request", {
            ...request,
            amount: -line.amount,
            line_items: this._refundLineItems(order),
        });
        return this._settleRefund(line, state);
    }

    /** "Refund 13.80 to CP-TTW-Q8H?", with what is left when less than asked. */
    async _confirmRefund(line, quote) {
        const format = (amount) => this.env.utils.formatCurrency(amount);
        const wanted = -line.amount;
        const amount = Math.min(wanted, quote.left);
        if (amount <= 0) {
            this._showError(
                _t(
                    "Nothing is left to refund on Centrapay payment %(code)s: %(refunded)s of it was refunded already. Refund this order with another method.",
                    {code: quote.short_code, refunded: format(quote.refunded)}
                )
            );
            return false;
        }
        const question = _t("Refund %(amount)s to %(code)s?", {
            amount: format(amount),
            code: quote.short_code,
        });
        const body =
            amount < wanted
                ? _t(
                      "%(refunded)s of Centrapay payment %(code)s was refunded already, so %(amount)s is left to refund through Centrapay. The rest, %(rest)s, goes back with another method.",
                      {
                          refunded: format(quote.refunded),
                          code: quote.short_code,
                          amount: format(amount),
                          rest: format(wanted - amount),
                      }
                  ) +
                  "\n" +
                  question
                : question;
        const confirmed = await ask(this.env.services.dialog, {
            title: _t("Centrapay refund"),
            body,
            confirmLabel: _t("Refund"),
            cancelLabel: _t("Not now"),
        });
        if (confirmed && amount < wanted) {
            line.set_amount(-amount);
        }
        return confirmed;
    }

    /** The original order lines this refund order returns, with their quantities. */
    _refundedLines(order) {
        return order.lines
            .filter((orderLine) => orderLine.refunded_orderline_id?.id)
            .map((orderLine) => ({
                id: orderLine.refunded_orderline_id.id,
                qty: -orderLine.get_quantity(),
            }));
    }

    _settleRefund(line, state) {
        if (!state || state.error || !state.accepted) {
            this._showError(
                state?.error ||
                    _t(
                        "Centrapay has not confirmed the refund. Retry: the same refund is sent again, never a second one."
                    )
            );
            return false;
        }
        line.update({
            centrapay_request_id: state.centrapay_id,
            centrapay_refund_ref: state.external_ref,
            centrapay_short_code: state.short_code,
            transaction_id: state.short_code,
            payment_ref_no: state.short_code,
        });
        line.set_receipt_info(
            [
                _t("Centrapay refund"),
                _t("Refund short code: %s", state.short_code),
                _t("Refunded payment: %s", state.request_short_code),
            ].join("\n")
        );
        return true;
    }

    /** The refunded order's Centrapay payments; the cashier's pick, or a short code. */
    async _refundTarget(order) {
        const seen = new Set();
        const originals = order.lines
            .map((orderLine) => orderLine.refunded_orderline_id?.order_id)
            .filter(Boolean)
            .flatMap((original) => original.payment_ids || [])
            .filter(
                (payment) =>
                    payment.payment_method_id?.use_payment_terminal === "centrapay" &&
                    payment.centrapay_request_id &&
                    payment.amount > 0 &&
                    !seen.has(payment.centrapay_request_id) &&
                    seen.add(payment.centrapay_request_id)
            );
        if (originals.length === 1) {
            return {centrapay_id: originals[0].centrapay_request_id};
        }
        if (originals.length > 1) {
            const picked = await makeAwaitable(
                this.env.services.dialog,
                SelectionPopup,
                {
                    title: _t("Which Centrapay payment is refunded?"),
                    list: originals.map((payment, index) => ({
                        id: index,
                        label: `${payment.centrapay_short_code || ""} ${this.env.utils.formatCurrency(payment.amount)}`,
                        item: payment.centrapay_request_id,
                    })),
                }
            );
            return picked ? {centrapay_id: picked} : null;
        }
        const code = await makeAwaitable(this.env.services.dialog, TextInputPopup, {
            title: _t("Centrapay short code of the receipt"),
            placeholder: "CP-XXX-XXX",
        });
        return code ? {short_code: code.trim()} : null;
    }

    _refundLineItems(order) {
        return order.lines
            .filter((orderLine) => orderLine.get_quantity() < 0)
            .map((orderLine) => ({
                name: orderLine.get_full_product_name(),
                qty: -orderLine.get_quantity(),
                price: -orderLine.get_price_with_tax(),
                sku: orderLine.product_id.default_code || undefined,
            }));
    }

    close() {
        this.env.services.bus_service.removeEventListener(
            "worker_state_updated",
            this._onBusState
        );
        for (const uuid of Object.keys(this.pauses)) {
            this._endPause(uuid);
        }
        for (const uuid of Object.keys(this.waits)) {
            this._stopWaiting(uuid);
        }
        for (const uuid of Object.keys(this.lingering)) {
            this._closeLingering(uuid);
        }
    }

    /** A change pushed over the bus: a status, or conditions to show. */
    async onStatusPushed(payload) {
        const wait = this.waits[payload.payment_uuid];
        if (wait) {
            await this._askServer(wait, "centrapay_get_status");
        }
    }

    /**
     * The cashier accepts or declines a condition (doc §10.2): the server
     * answers Centrapay and reads the request again at once.
     */
    async centrapayAnswerCondition(line, conditionId, accept) {
        const wait = this.waits[line.uuid];
        if (!this._isCurrent(wait) || wait.state.answering) {
            return;
        }
        wait.state.answering = true;
        const state = await this._call(
            accept ? "centrapay_accept_condition" : "centrapay_decline_condition",
            line.centrapay_request_id,
            this.pos.session.id,
            conditionId
        );
        if (!this._isCurrent(wait)) {
            return;
        }
        wait.state.answering = false;
        wait.state.condition_error = state?.error || state?.answer_error || false;
        if (state && !state.error) {
            this._onServerState(wait, state);
        }
    }

    /**
     * A partly paid payment of an order the cashier deletes is given back
     * (doc §10.3). Returns false when the server could not be told.
     */
    async centrapayAbandon(line) {
        const state = await this._call(
            "centrapay_abandon_request",
            line.centrapay_request_id,
            this.pos.session.id
        );
        if (state?.offline) {
            this._showError(
                _t(
                    "Could not reach the Odoo server, so the Centrapay part of this order cannot be given back yet. Delete the order once the connection is back."
                )
            );
            return false;
        }
        if (state?.abandoned) {
            this._showError(
                _t(
                    "%(amount)s paid through Centrapay (%(code)s) goes back to the customer: Odoo refunds it shortly.",
                    {
                        amount: this.env.utils.formatCurrency(state.paid_amount),
                        code: state.short_code,
                    }
                )
            );
        }
        return true;
    }

    _waitForFinal(line, serverState) {
        this._closeLingering(line.uuid);
        const state = reactive({...serverState, deadline: this._deadline(serverState)});
        return new Promise((resolve) => {
            const wait = {id: ++this.lastWaitId, line, state, resolve, refusals: 0};
            this.waits[line.uuid] = wait;
            if (state.final) {
                this._settle(line, state, wait);
                return;
            }
            // No QR code in the barcode flow: the customer shows theirs. Drawn
            // here, once per request (each create, resume and recreate comes
            // through here), for the QR screen and the customer display.
            if (state.flow === "barcode") {
                line.qrPaymentData = null;
            } else {
                state.qr = state.url && centrapayQrDataUri(state.url);
                line.qrPaymentData = this._qrPaymentData(line, state);
            }
            wait.closeDialog = this.env.services.dialog.add(
                CentrapayQrDialog,
                {
                    state,
                    amount: this.env.utils.formatCurrency(line.amount),
                    onCancel: () => this._cancelFromDialog(line),
                },
                {
                    // Closing the QR (its x, Escape) abandons it: void (doc §7.2).
                    onClose: () => {
                        wait.closeDialog = null;
                        if (this._isCurrent(wait)) {
                            this._cancelFromDialog(line);
                        }
                    },
                }
            );
            // The POS gives up a few seconds after expiry (doc §7.2) and voids.
            wait.timeoutAt = state.deadline + (state.pos_timeout_seconds || 7) * 1000;
            this._readLater(wait, this._readDelay(wait, serverState));
        });
    }

    _qrPaymentData(line, state) {
        return centrapayQrPaymentData({
            name: line.payment_method_id.centrapay_label || line.payment_method_id.name,
            amount: this.env.utils.formatCurrency(line.amount),
            state,
        });
    }

    /** The wait's one timer: its next status read, or the void at the POS timeout. */
    _readLater(wait, delay) {
        clearTimeout(wait.timer);
        wait.delay = delay;
        const untilTimeout = wait.voided ? delay : wait.timeoutAt - Date.now();
        wait.timer = setTimeout(
            () => this._read(wait),
            Math.max(0, Math.min(delay, untilTimeout))
        );
    }

    async _read(wait) {
        if (!this._isCurrent(wait)) {
            return;
        }
        if (this._lineGone(wait.line)) {
            this._stopWaiting(wait.line.uuid);
            this._removeFarmlandsDiscount(
                wait.line,
                wait.state.farmlands_discount_rate
            );
            wait.resolve(false);
            return;
        }
        const timedOut = Date.now() >= wait.timeoutAt;
        if (
            timedOut &&
            wait.unreachableSince &&
            Date.now() - wait.unreachableSince >= UNREACHABLE_GIVE_UP_MS
        ) {
            this._settle(
                wait.line,
                {
                    status: "error",
                    error: _t("Could not reach the Odoo server. Check the connection."),
                    centrapay_ended_by: "unreadable",
                },
                wait
            );
            return;
        }
        let state;
        if (timedOut && !wait.voided) {
            wait.state.centrapay_ended_by = "timeout";
            state = await this._askServer(wait, "centrapay_cancel_request");
            wait.voided = Boolean(state) && !state.offline;
        } else {
            state = await this._askServer(wait, "centrapay_get_status");
        }
        if (state?.offline) {
            wait.unreachableSince ||= Date.now();
        } else {
            wait.unreachableSince = null;
        }
        if (this._isCurrent(wait)) {
            this._readLater(
                wait,
                state?.offline
                    ? Math.min(wait.delay * 2, POLL_MAX_MS)
                    : this._readDelay(wait, state)
            );
        }
    }

    /** When to read again after a read that reached the server (or the create). */
    _readDelay(wait, state) {
        if (state && "poll_ms" in state) {
            wait.pollMs = state.poll_ms;
        }
        if (!this.env.services.centrapay_bus_state?.connected || state?.error) {
            return POLL_MS;
        }
        return wait.pollMs || (wait.voided ? POLL_BUS_UP_MS : NO_READ_MS);
    }

    /** Ask the server (status, or void at the POS timeout); settle when final. */
    async _askServer(wait, method, options = {}) {
        if (!this._isCurrent(wait) || wait.state.recreating) {
            // Not waiting, or its request is being replaced (customer not
            // present, or the customer's code).
            return;
        }
        const state = await this._call(
            method,
            wait.line.centrapay_request_id,
            this.pos.session.id
        );
        if (state?.error && !state.offline && this._isCurrent(wait)) {
            // The server refused: the session was closed, the method removed...
            // Waiting longer would show a QR code nobody follows any more.
            wait.refusals++;
            if (
                wait.refusals >= MAX_REFUSED_READS ||
                method === "centrapay_cancel_request"
            ) {
                this._settle(
                    wait.line,
                    {
                        status: "error",
                        error: state.error,
                        centrapay_ended_by: "unreadable",
                    },
                    wait,
                    options
                );
            }
            return state;
        }
        if (!state?.offline) {
            wait.refusals = 0;
        }
        if (state && !state.error) {
            this._onServerState(wait, state, options);
        }
        return state;
    }

    /** A state read from the server: settle a final one, else show what changed. */
    _onServerState(wait, state, options = {}) {
        if (state.final) {
            this._settle(wait.line, state, wait, options);
            return;
        }
        // Conditions and the remainder change while the request waits.
        Object.assign(wait.state, {
            awaiting_merchant: state.awaiting_merchant || [],
            awaiting_patron: state.awaiting_patron || [],
            remaining_amount: state.remaining_amount,
        });
    }

    _settle(line, state, wait, {quiet = false} = {}) {
        if (!this._isCurrent(wait) || wait.state.recreating) {
            return;
        }
        Object.assign(wait.state, state);
        this._stopWaiting(line.uuid);
        if (state.status === "paid") {
            if (state.remaining_amount > 0) {
                // A partial payment (doc §10.3): the line keeps what Centrapay
                // took; the rest is due in another tender.
                line.set_amount(state.paid_amount);
                this._showError(
                    _t(
                        "The customer paid %(paid)s with Centrapay. %(rest)s is still due: take it with another payment method.",
                        {
                            paid: this.env.utils.formatCurrency(state.paid_amount),
                            rest: this.env.utils.formatCurrency(state.remaining_amount),
                        }
                    )
                );
            } else if (Math.abs(state.amount - line.amount) > 0.000001) {
                // The patron paid an earlier QR code of this line, for its
                // earlier amount: the line records what Centrapay really took.
                line.set_amount(state.amount);
                this._showError(
                    _t(
                        "The customer paid %s, the amount of the earlier QR code. The payment line now shows that amount: check what is still due before validating.",
                        this.env.utils.formatCurrency(state.amount)
                    )
                );
            }
            this._recordPaid(line, state);
            wait.resolve(true);
            return;
        }
        // A refused card: its discount goes before another tender is taken.
        this._removeFarmlandsDiscount(line, wait.state.farmlands_discount_rate);
        const outcome = centrapayOutcome(wait.state);
        line.centrapay_outcome = outcome;
        // The cashier's own cancel needs no popup: the line says what happened.
        if (
            !quiet &&
            !(
                wait.state.centrapay_ended_by === "cashier" &&
                state.status === "cancelled"
            )
        ) {
            this._showError(`${outcome.word} ${outcome.next}`);
        }
        wait.resolve(false);
    }

    /** What the line and its receipt keep of a paid request. */
    _recordPaid(line, state) {
        line.centrapay_paid_by = state.paid_by || false;
        line.update({
            transaction_id: state.centrapay_id,
            payment_ref_no: state.short_code,
            card_type: state.paid_by || "Centrapay",
        });
        line.set_receipt_info(
            [
                _t("Centrapay"),
                _t("Short code: %s", state.short_code),
                state.paid_by ? _t("Paid with: %s", state.paid_by) : "",
            ]
                .filter(Boolean)
                .join("\n")
        );
    }

    /**
     * Stop the line's wait and its timer. A final request keeps its QR
     * screen, showing the final word, a moment.
     */
    _stopWaiting(uuid) {
        const wait = this.waits[uuid];
        if (!wait) {
            return;
        }
        delete this.waits[uuid];
        clearTimeout(wait.timer);
        const line = wait.line;
        if (!CENTRAPAY_FINAL_STATUSES.includes(wait.state.status)) {
            wait.closeDialog?.();
            line.qrPaymentData = null;
            return;
        }
        line.qrPaymentData = this._qrPaymentData(line, wait.state);
        this.lingering[uuid] = {
            close: wait.closeDialog,
            line,
            timer: setTimeout(
                () => this._closeLingering(uuid),
                CENTRAPAY_FINAL_WORD_MS
            ),
        };
    }

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
                this._showError(message);
            }
        }
    }

    /**
     * The cashier ticks or unticks "customer not present" on the QR screen
     * (CP-EXT-10): the shown request is voided and a new one made with
     * ``patronNotPresent``. The payment line keeps waiting throughout; a
     * request the patron paid meanwhile is kept as the payment.
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
    }

    /**
     * The barcode flow: the cashier scanned or typed ``code``, the customer's
     * (a Centrapay app code or a Farmlands card), on the Centrapay screen of
     * ``line``. The server checks and decodes it, voids the QR request and
     * makes one with the code; a refused code leaves the QR request as it
     * was, with the reason in words.
     */
    async centrapayUseBarcode(line, code) {
        const wait = this.waits[line.uuid];
        if (!this._isCurrent(wait) || wait.state.recreating) {
            return;
        }
        wait.state.recreating = true;
        wait.state.barcode_error = false;
        const order = line.pos_order_id;
        const quote = await this._farmlandsDiscount(order, line, code);
        let state = quote;
        if (!quote?.error && this._isCurrent(wait)) {
            state = await this._call(
                "centrapay_create_request",
                this._createData(order, line, {barcode: code})
            );
        }
        if (!state?.farmlands_discount_rate) {
            // Not charged to a Farmlands card with it: the lines lose it.
            this._removeFarmlandsDiscount(line);
        }
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
    }

    /**
     * The Farmlands discount (CP-ASSET-3), before the card is charged: when
     * the method has one and this line would pay the whole order, the server
     * decodes the code and answers the rate for a Farmlands card only; the
     * order lines then get it as their own discount, and the line the
     * discounted amount due. Resolves to the answer, or ``{error}``.
     */
    async _farmlandsDiscount(order, line, code) {
        const rate = line.payment_method_id.centrapay_farmlands_discount;
        const alone = order.payment_ids.every(
            (payment) => payment.uuid === line.uuid || payment.is_change
        );
        if (!rate || !alone || order.lines.some((ol) => ol.get_discount())) {
            return null;
        }
        const quote = await this._call(
            "centrapay_farmlands_discount_quote",
            this._createData(order, line, {barcode: code})
        );
        if (quote?.rate && !this._lineGone(line)) {
            const lines = order.lines.filter((ol) => !ol.get_discount());
            for (const orderLine of lines) {
                orderLine.set_discount(quote.rate);
            }
            this.farmlandsDiscounts[line.uuid] = {order, rate: quote.rate};
            line.set_amount(order.getDefaultAmountDueToPayIn(line.payment_method_id));
        }
        return quote;
    }

    /**
     * The order lines lose the Farmlands discount of ``line`` (its ``rate``,
     * known from its request after a reload too). It went only to an order
     * whose lines had no discount, so every line at that rate has it.
     */
    _removeFarmlandsDiscount(line, rate = undefined) {
        const given = this.farmlandsDiscounts[line.uuid];
        delete this.farmlandsDiscounts[line.uuid];
        const order = given?.order || line.pos_order_id;
        rate ||= given?.rate;
        if (!order || !rate || order.finalized) {
            return;
        }
        for (const orderLine of order.lines) {
            if (orderLine.get_discount() === rate) {
                orderLine.set_discount(0);
            }
        }
        if (!this._lineGone(line)) {
            line.set_amount(order.getDefaultAmountDueToPayIn(line.payment_method_id));
        }
    }

    _deadline(state) {
        return Date.now() + Math.max(0, state.expires_in || 0) * 1000;
    }

    /** Call the server; a lost connection is ``offline``, a server error its message. */
    async _call(method, ...args) {
        try {
            return await this.env.services.orm.silent.call(
                "pos.payment.method",
                method,
                [[this.payment_method_id.id], ...args]
            );
        } catch (error) {
            if (error instanceof ConnectionLostError) {
                return {
                    error: _t("Could not reach the Odoo server. Check the connection."),
                    offline: true,
                };
            }
            return {
                error:
                    error?.data?.message ||
                    error?.message ||
                    _t(
                        "The Odoo server could not handle the Centrapay request. Try again; if it happens again, ask a manager."
                    ),
            };
        }
    }

    _deviceId() {
        const key = "pos_centrapay.device_id";
        let deviceId = localStorage.getItem(key);
        if (!deviceId) {
            deviceId = uuidv4();
            localStorage.setItem(key, deviceId);
        }
        return deviceId;
    }

    _showError(message) {
        if (Object.keys(this.lingering).length) {
            this.errorsAfterLinger.push(message);
            return;
        }
        this.env.services.dialog.add(AlertDialog, {
            title: _t("Centrapay"),
            body: message,
        });
    }
}

register_payment_method("centrapay", PaymentCentrapay);

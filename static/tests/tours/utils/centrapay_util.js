/** Tour steps for the Centrapay QR screen, the sandbox patron and the close. */
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import {readQrCode} from "@pos_centrapay/../tests/tours/utils/centrapay_qr_reader";

export function qrIsShown() {
    return [
        {
            content: "the QR code of the Centrapay request is shown",
            trigger: ".centrapay-qr-dialog img.centrapay-qr[src^='data:image/svg+xml']",
        },
        {
            content: "with the request's short code",
            trigger: ".centrapay-qr-dialog .centrapay-short-code:contains('CP-')",
        },
        {
            content: "and a countdown to its expiry",
            trigger: ".centrapay-qr-dialog .centrapay-countdown:contains(':')",
        },
    ];
}

/** The text of the QR code on the QR screen, read from its picture. */
function scanQr() {
    return readQrCode(
        document.querySelector(".centrapay-qr-dialog img.centrapay-qr").src
    );
}

/** The QR code shown reads exactly as the request's pay URL, from the server. */
export function qrReadsAsPayUrl() {
    return {
        content: "the QR code shown reads as the request's pay URL",
        trigger: ".centrapay-qr-dialog[data-pay-url] img.centrapay-qr[src]",
        run: async () => {
            const url = document.querySelector(".centrapay-qr-dialog").dataset.payUrl;
            const text = await scanQr();
            if (text !== url) {
                throw new Error(`the QR code reads ${text}, not ${url}`);
            }
        },
    };
}

/**
 * The patron's side, through the sandbox's control API (another origin);
 * ``body``: e.g. ``{amount: "100", mode: "partial-payment"}``; ``scan``: at the
 * URL read from the QR code shown, else the one the POS got.
 */
export function sandbox(action, body = undefined, {scan = false} = {}) {
    return {
        content: `the sandbox patron: ${action}${scan ? ", at the URL scanned" : ""}`,
        trigger: ".centrapay-qr-dialog[data-pay-url]",
        run: async () => {
            const payUrl = new URL(
                scan
                    ? await scanQr()
                    : document.querySelector(".centrapay-qr-dialog").dataset.payUrl
            );
            const id = payUrl.pathname.split("/").pop();
            await fetch(`${payUrl.origin}/_sandbox/payment-requests/${id}/${action}`, {
                method: "POST",
                mode: "no-cors",
                body: body && JSON.stringify(body),
            });
        },
    };
}

/**
 * The cashier types the customer's code on the QR screen and charges it;
 * ``opened``: the code field is open already.
 */
export function typeCode(code, opened = false) {
    return [
        opened
            ? []
            : {
                  content: "the cashier opens the code field",
                  trigger: ".centrapay-qr-dialog .centrapay-enter-code",
                  run: "click",
              },
        {
            content: `the cashier types ${code}`,
            trigger: ".centrapay-qr-dialog input.centrapay-code-input:not(:disabled)",
            run: `edit ${code}`,
        },
        {
            content: "and charges it",
            trigger: ".centrapay-qr-dialog .centrapay-use-code:not(:disabled)",
            run: "click",
        },
    ];
}

export function qrIsClosed() {
    return {
        content: "the QR code is gone",
        trigger: "body:not(:has(.centrapay-qr-dialog))",
    };
}

export function receiptShowsCentrapay() {
    return [
        {
            content: "the receipt shows the short code",
            trigger:
                ".pos-receipt .pos-payment-terminal-receipt:contains('Short code: CP-')",
        },
        {
            content: "and what paid it",
            trigger:
                ".pos-receipt .pos-payment-terminal-receipt:contains('Paid with:')",
        },
    ];
}

export function receiptShowsRefund() {
    return {
        content: "the refund receipt shows the refund's own short code",
        trigger:
            ".pos-receipt .pos-payment-terminal-receipt:contains('Refund short code: CP-')",
    };
}

/** The cashier closes the register (already open) from the POS menu. */
export function closeRegister() {
    return [
        Chrome.startPoS(),
        ...Chrome.clickMenuOption("Close Register"),
        {
            content: "close the register",
            trigger: ".close-pos-popup .button:contains('Close Register')",
            run: "click",
        },
    ];
}

/** The register opened, a Desk Pad sold, the payment screen shown. */
export function openPaymentScreen() {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        ProductScreen.addOrderline("Desk Pad", "1"),
        ProductScreen.clickPayButton(),
        PaymentScreen.isShown(),
    ];
}

/** ...then Centrapay picked, and its QR code shown. */
export function startCentrapayPayment() {
    return [
        openPaymentScreen(),
        PaymentScreen.clickPaymentMethod("Centrapay"),
        qrIsShown(),
    ];
}

/** A step that passes after ``ms``. */
export function pause(ms) {
    return {
        content: `wait ${ms} ms`,
        trigger: "body",
        run: () => new Promise((resolve) => setTimeout(resolve, ms)),
    };
}

/**
 * Count the Centrapay calls this till makes, per method, in
 * ``window.centrapayCalls``; a method named in ``window.centrapayOffline``
 * fails as a lost connection. The tour wraps the ORM service's ``call``, which
 * the terminal's ``orm.silent`` inherits, so the terminal has no test hook.
 * Counting at the till sees every call the terminal makes, in order, whether
 * or not it reaches the server; each check waits longer than any delay
 * between two calls, so a timer still running is always caught.
 */
export function countCentrapayCalls() {
    return {
        content: "count the till's Centrapay calls",
        trigger: ".pos",
        run: () => {
            const orm = window.posmodel.env.services.orm;
            const call = orm.call;
            const {ConnectionLostError} = odoo.loader.modules.get(
                "@web/core/network/rpc"
            );
            window.centrapayCalls = {};
            window.centrapayOffline = [];
            orm.call = function (model, method, ...args) {
                if (method.startsWith("centrapay_")) {
                    const calls = window.centrapayCalls;
                    calls[method] = (calls[method] || 0) + 1;
                    if (window.centrapayOffline.includes(method)) {
                        return Promise.reject(new ConnectionLostError("/web/dataset"));
                    }
                }
                return call.call(this, model, method, ...args);
            };
        },
    };
}

function callCount(method) {
    return window.centrapayCalls[method] || 0;
}

/** Wait until the till made ``count`` ``method`` calls (up to ``ms``). */
export function callsReach(method, count, ms = 20000) {
    return {
        content: `the till made ${count} ${method} calls`,
        trigger: "body",
        run: async () => {
            const end = Date.now() + ms;
            while (callCount(method) < count) {
                if (Date.now() > end) {
                    throw new Error(`only ${callCount(method)} ${method} calls`);
                }
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        },
    };
}

/** The till makes no ``method`` call for ``ms``: its timer stopped. */
export function noMoreCalls(method, ms) {
    let before = 0;
    return [
        {
            content: `note the ${method} calls`,
            trigger: "body",
            run: () => (before = callCount(method)),
        },
        pause(ms),
        {
            content: `no ${method} call for ${ms} ms`,
            trigger: "body",
            run: () => {
                if (callCount(method) !== before) {
                    throw new Error(
                        `${callCount(method) - before} ${method} calls after it should have stopped`
                    );
                }
            },
        },
    ];
}

/** The bus's websocket connects or drops, as the bus service tells the POS. */
export function busState(state) {
    return {
        content: `the bus is ${state}`,
        trigger: "body",
        run: () =>
            window.posmodel.env.services.bus_service.trigger(
                "worker_state_updated",
                state
            ),
    };
}

/** The bus down for this tab: its worker tells it nothing more. */
export function busDown() {
    return [
        {
            content: "the bus's worker leaves this tab",
            trigger: ".pos",
            run: () => window.posmodel.env.services.bus_service.stop(),
        },
        busState("DISCONNECTED"),
    ];
}

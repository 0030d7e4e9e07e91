/** Tour steps for the Centrapay QR screen, the sandbox patron and the close. */
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";

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

/**
 * The patron's side, through the sandbox's control API (another origin);
 * ``body``: e.g. ``{amount: "100", mode: "partial-payment"}``.
 */
export function sandbox(action, body = undefined) {
    return {
        content: `the sandbox patron: ${action}`,
        trigger: ".centrapay-qr-dialog[data-pay-url]",
        run: async () => {
            const payUrl = new URL(
                document.querySelector(".centrapay-qr-dialog").dataset.payUrl
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

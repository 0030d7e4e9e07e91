/** Tours of what the cashier sees: the status in words, the button, the options. */
import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import {registry} from "@web/core/registry";

// The device id this browser sends; the Python test checks Centrapay got it.
const DEVICE_ID = "tour-till-7";

function openPaymentScreen() {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        {
            content: "this till has its own Centrapay device id",
            trigger: ".pos",
            run: () => localStorage.setItem("pos_centrapay.device_id", DEVICE_ID),
        },
        ProductScreen.addOrderline("Desk Pad", "1"),
        ProductScreen.clickPayButton(),
        PaymentScreen.isShown(),
    ];
}

function status(word, reason) {
    const reasonStep = reason
        ? [
              {
                  content: `with the reason in words: ${reason}`,
                  trigger: `.centrapay-qr-dialog .centrapay-status-reason:contains('${reason}')`,
              },
          ]
        : [];
    return [
        {
            content: `the QR screen says: ${word}`,
            trigger: `.centrapay-qr-dialog .centrapay-status .centrapay-status-word:contains('${word}')`,
        },
        ...reasonStep,
    ];
}

function startCentrapayPayment() {
    return [
        openPaymentScreen(),
        PaymentScreen.clickPaymentMethod("Centrapay"),
        Centrapay.qrIsShown(),
        status("Waiting for payment"),
    ];
}

/** The patron pays: "Paid" stays readable, then the cashier validates. */
function patronPaysThenValidate(...whilePaid) {
    return [
        Centrapay.sandbox("pay"),
        status("Paid"),
        ...whilePaid,
        Centrapay.qrIsClosed(),
        PaymentScreen.clickValidate(),
        ReceiptScreen.isShown(),
    ];
}

function alertSays(text) {
    return [
        {
            content: `the cashier is told: ${text}`,
            trigger: `.modal-body:contains('${text}')`,
        },
        Dialog.confirm(),
        {
            content: "the line can be retried, and says why",
            trigger: ".paymentline .centrapay-outcome:contains('Press Retry')",
        },
    ];
}

registry.category("web_tour.tours").add("CentrapayStatusPaidTour", {
    steps: () =>
        [
            openPaymentScreen(),
            {
                content: "the Centrapay button shows Centrapay's mark",
                trigger:
                    ".paymentmethod:has(.payment-name:contains('Centrapay')) img.payment-method-icon[src*='/web/image/pos.payment.method/']",
            },
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            status("Waiting for payment"),
            {
                content: "the QR screen names this till by the POS's name",
                trigger: ".centrapay-qr-dialog .centrapay-till:contains('Till: Shop')",
            },
            {
                content: "and shows no device id (jargon to the cashier)",
                trigger: `.centrapay-qr-dialog:not(:contains('${DEVICE_ID}'))`,
            },
            patronPaysThenValidate({
                content: "and what paid it",
                trigger:
                    ".centrapay-qr-dialog .centrapay-paid-by:contains('Centrapay')",
            }),
            Centrapay.receiptShowsCentrapay(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayStatusPatronCancelTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            Centrapay.sandbox("cancel"),
            status("Cancelled", "cancelled by the customer in their app"),
            Centrapay.qrIsClosed(),
            alertSays("Cancelled by the customer in their app"),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayStatusMerchantCancelTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            {
                content: "the cashier cancels",
                trigger: ".modal .centrapay-cancel",
                run: "click",
            },
            status("Cancelled", "cancelled at the till"),
            Centrapay.qrIsClosed(),
            {
                content: "the line can be retried, and says why",
                trigger:
                    ".paymentline .centrapay-outcome:contains('Cancelled at the till')",
            },
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayStatusExpiredTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            Centrapay.sandbox("expire"),
            status("Expired"),
            Centrapay.qrIsClosed(),
            alertSays("Expired: the customer did not pay in time"),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayPatronNotPresentTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            {
                content: "the cashier says the customer is not present",
                trigger: ".centrapay-qr-dialog input.centrapay-patron-not-present",
                run: (helpers) => {
                    window.centrapayFirstCode =
                        document.querySelector(
                            ".centrapay-qr-dialog"
                        ).dataset.shortCode;
                    return helpers.click();
                },
            },
            {
                content: "a new request replaces the first one",
                trigger:
                    ".centrapay-qr-dialog[data-status='new'] input.centrapay-patron-not-present:checked",
                run: () => {
                    const code =
                        document.querySelector(".centrapay-qr-dialog").dataset
                            .shortCode;
                    if (!code || code === window.centrapayFirstCode) {
                        throw new Error("the QR screen still shows the first request");
                    }
                },
            },
            Centrapay.qrReadsAsPayUrl(),
            status("Waiting for payment"),
            patronPaysThenValidate(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapaySplitTenderTour", {
    steps: () =>
        [
            openPaymentScreen(),
            PaymentScreen.clickPaymentMethod("Cash"),
            PaymentScreen.enterPaymentLineAmount("Cash", "1"),
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            patronPaysThenValidate(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayCancellationWordsTour", {
    steps: () => [
        {
            content: "every cancellation reason has words",
            trigger: "body",
            run: () => {
                // Looked up at run time: web.assets_tests also loads outside the POS.
                const {CENTRAPAY_CANCELLATION_CODES, centrapayCancellationReason} =
                    odoo.loader.modules.get("@pos_centrapay/common/centrapay_status");
                // tests/test_tours_display.py checks that these are doc §4.3's.
                const words = CENTRAPAY_CANCELLATION_CODES.map((code) =>
                    String(centrapayCancellationReason(code))
                );
                if (
                    CENTRAPAY_CANCELLATION_CODES.length < 12 ||
                    words.some((w) => !w || /[A-Z_]{6,}/.test(w))
                ) {
                    throw new Error(`reasons without words: ${words}`);
                }
                const unknown = String(centrapayCancellationReason("NEW_REASON"));
                if (!unknown.includes("NEW_REASON")) {
                    throw new Error("an unknown reason is not named");
                }
            },
        },
    ],
});

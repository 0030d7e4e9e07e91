/**
 * Partial payments (CP-EXT-17) and payment conditions (CP-EXT-8, CP-EXT-9) at
 * the till: the rest taken in cash, an abandoned partial payment, and a
 * photo-ID check accepted or declined.
 */
import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import {registry} from "@web/core/registry";

// The sandbox's patron code whose payment raises a photo-ID check (doc §13).
const PHOTO_ID_CODE = "9990001000000019";

/** What the POS sends its customer display now (CP-EXT-14). */
function displaySends(content, test) {
    return {
        content: `the customer display is sent ${content}`,
        trigger: "body",
        run: () => {
            /* global posmodel */
            const data = posmodel.get_order().getCustomerDisplayData();
            const problem = test(data);
            if (problem) {
                throw new Error(`${content}: ${problem}`);
            }
        },
    };
}

/** The customer pays 1.00 of the Desk Pad's 1.98 in their app. */
function partlyPaid() {
    return [
        Centrapay.startCentrapayPayment(),
        Centrapay.sandbox("pay", {amount: "100", mode: "partial-payment"}),
        {
            content: "the QR screen says paid",
            trigger: ".centrapay-qr-dialog[data-status='paid']",
        },
        Centrapay.qrIsClosed(),
        {
            content: "the cashier is told what Centrapay took and what is due",
            trigger: ".modal-body:contains('still due')",
        },
        Dialog.confirm(),
        {
            content: "the Centrapay line keeps what Centrapay took",
            trigger:
                ".paymentlines .paymentline:has(.payment-name:contains('Centrapay')) .payment-amount:contains('1.00')",
        },
        PaymentScreen.remainingIs("0.98"),
        displaySends(
            "the order's remainder",
            (data) => !data.centrapayDue?.includes("0.98") && String(data.centrapayDue)
        ),
    ];
}

function photoIdCheck() {
    return [
        Centrapay.startCentrapayPayment(),
        Centrapay.typeCode(PHOTO_ID_CODE),
        {
            content: "the customer's code is used",
            trigger: ".centrapay-qr-dialog[data-flow='barcode']",
        },
        Centrapay.sandbox("approve"),
        {
            content: "Centrapay's own words, with Accept and Decline",
            trigger:
                ".centrapay-qr-dialog .centrapay-condition .centrapay-condition-message:contains('Please check ID')",
        },
        {
            content: "the status says the till must answer",
            trigger:
                ".centrapay-qr-dialog .centrapay-status-word:contains('Waiting for the till to answer')",
        },
    ];
}

registry.category("web_tour.tours").add("CentrapayPartialCashTour", {
    steps: () =>
        [
            partlyPaid(),
            PaymentScreen.clickPaymentMethod("Cash"),
            PaymentScreen.remainingIs("0.00"),
            displaySends(
                "nothing due once the rest is paid",
                (data) => data.centrapayDue && String(data.centrapayDue)
            ),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
            Centrapay.receiptShowsCentrapay(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayPartialAbandonTour", {
    steps: () =>
        [
            partlyPaid(),
            PaymentScreen.clickBack(),
            ProductScreen.clickControlButton("Cancel Order"),
            Dialog.confirm(),
            {
                content: "the cashier is told the Centrapay part goes back",
                trigger: ".modal-body:contains('goes back to the customer')",
            },
            Dialog.confirm(),
            ProductScreen.orderIsEmpty(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayConditionAcceptTour", {
    steps: () =>
        [
            photoIdCheck(),
            {
                content: "the cashier checked the ID: Accept",
                trigger: ".centrapay-qr-dialog .centrapay-condition-accept",
                run: "click",
            },
            Centrapay.qrIsClosed(),
            ReceiptScreen.isShown(),
            Centrapay.receiptShowsCentrapay(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayConditionDeclineTour", {
    steps: () =>
        [
            photoIdCheck(),
            {
                content: "the customer has no ID: Decline",
                trigger: ".centrapay-qr-dialog .centrapay-condition-decline",
                run: "click",
            },
            Centrapay.qrIsClosed(),
            {
                content: "the cashier is told why it was not paid",
                trigger: ".modal-body:contains('the till declined a check')",
            },
            Dialog.confirm(),
            {
                content: "the line says it too",
                trigger:
                    ".paymentline .centrapay-outcome:contains('the till declined a check')",
            },
        ].flat(Infinity),
});

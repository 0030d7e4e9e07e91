/**
 * The barcode flow at the till (CP-FLOW-4 to CP-FLOW-6): the cashier scans or
 * types the customer's code on the Centrapay screen instead of showing the QR.
 */
import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import {registry} from "@web/core/registry";
import {scan_barcode} from "@point_of_sale/../tests/tours/utils/common";

const APP_CODE = "9990001234567890";

const {startCentrapayPayment, typeCode} = Centrapay;

function barcodeScreen(words) {
    return [
        {
            content: "no QR code: the customer's code is used",
            trigger:
                ".centrapay-qr-dialog[data-flow='barcode']:not(:has(img.centrapay-qr))",
        },
        {
            content: `the screen says "${words}" (or is already done)`,
            trigger: `.centrapay-qr-dialog[data-flow='barcode'] .centrapay-status:contains('${words}'), .centrapay-qr-dialog[data-flow='barcode'][data-status='paid'], .centrapay-qr-dialog[data-flow='barcode'][data-status='cancelled']`,
        },
    ];
}

function finishPaidOrder() {
    return [
        Centrapay.qrIsClosed(),
        ReceiptScreen.isShown(),
        Centrapay.receiptShowsCentrapay(),
    ];
}

/** A refused card: the popup and the line say why in words; Retry shows the QR. */
function refusedCard(card, words, opened = false) {
    return [
        typeCode(card, opened),
        Centrapay.qrIsClosed(),
        {
            content: `the cashier is told why: ${words}`,
            trigger: `.modal-body:contains("${words}")`,
        },
        Dialog.confirm(),
        {
            content: "the line says it too",
            trigger: `.paymentline .centrapay-outcome:contains("${words}")`,
        },
        {
            content: "the cashier tries again",
            trigger: ".paymentline .send_payment_request:contains('Retry')",
            run: "click",
        },
        Centrapay.qrIsShown(),
    ];
}

registry.category("web_tour.tours").add("CentrapayBarcodeFarmlandsTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            // The POS's barcode scanner, while the Centrapay screen is open.
            scan_barcode("424242424"),
            barcodeScreen("Charging the Farmlands card"),
            finishPaidOrder(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayBarcodeRefusedTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            typeCode("9990001234567891"),
            {
                content: "a code failing its check digit is refused in words",
                trigger:
                    ".centrapay-qr-dialog .centrapay-code-error:contains('check digit')",
            },
            Centrapay.qrIsShown(),
            refusedCard("434343434", "the customer's payment method declined it", true),
            refusedCard("454545454", "the customer's code has expired"),
            refusedCard("464646464", "the customer's payment method is not active"),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayBarcodeAppTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            typeCode(APP_CODE),
            barcodeScreen("Waiting for the customer to approve in their app"),
            Centrapay.sandbox("approve"),
            finishPaidOrder(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayBarcodeReloadTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            typeCode(APP_CODE),
            barcodeScreen("Waiting for the customer to approve in their app"),
            {
                content: "the browser reloads mid-payment",
                trigger: ".centrapay-qr-dialog[data-flow='barcode']",
                run: () => window.location.reload(),
            },
            {
                content: "the POS returns to the pending payment by itself",
                trigger: ".pos .payment-screen",
            },
            barcodeScreen("Waiting for the customer to approve in their app"),
            Centrapay.sandbox("approve"),
            finishPaidOrder(),
        ].flat(Infinity),
});

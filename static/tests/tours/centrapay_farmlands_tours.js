/**
 * Farmlands-only discounts (CP-ASSET-3): a scanned Farmlands card gets the
 * method's discount on the order's lines before it is charged; an app code
 * typed for the same order does not.
 */
import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import {registry} from "@web/core/registry";
import {scan_barcode} from "@point_of_sale/../tests/tours/utils/common";

const DISCOUNT_LINE = ".pos-receipt li:contains('With a'):contains('discount')";

function usesTheCode() {
    return {
        content: "the customer's code is used, not the QR code",
        trigger: ".centrapay-qr-dialog[data-flow='barcode']",
    };
}

function paidWithCode() {
    return [
        Centrapay.qrIsClosed(),
        ReceiptScreen.isShown(),
        Centrapay.receiptShowsCentrapay(),
    ];
}

registry.category("web_tour.tours").add("CentrapayFarmlandsDiscountTour", {
    steps: () =>
        [
            Centrapay.startCentrapayPayment(),
            scan_barcode("424242424"),
            usesTheCode(),
            paidWithCode(),
            {
                content: "the receipt shows the Farmlands discount on the line",
                trigger: `${DISCOUNT_LINE}:contains('5%')`,
            },
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayFarmlandsNoDiscountTour", {
    steps: () =>
        [
            Centrapay.startCentrapayPayment(),
            Centrapay.typeCode("9990001234567890"),
            usesTheCode(),
            Centrapay.sandbox("approve"),
            paidWithCode(),
            {
                content: "no discount for an app code",
                trigger: `.pos-receipt:not(:has(${DISCOUNT_LINE}))`,
            },
        ].flat(Infinity),
});

/**
 * Farmlands-only discounts (CP-ASSET-3): a scanned Farmlands card gets the
 * method's discount on the order's lines before it is charged; an app code
 * typed for the same order does not; a refused card takes it back, and the
 * order is paid in full another way.
 */
import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
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

/**
 * Keep what the POS sends its customer display (Odoo's "local" display reads
 * this channel), in ``window.centrapayDisplaySent``: a refused card ends too
 * fast for a step to see the display while it is charged.
 */
function recordDisplay() {
    return {
        content: "record what the customer display is sent",
        trigger: ".centrapay-qr-dialog",
        run: () => {
            const sent = (window.centrapayDisplaySent = []);
            new BroadcastChannel("UPDATE_CUSTOMER_DISPLAY").onmessage = (event) =>
                sent.push(event.data);
        },
    };
}

/** A step that fails with what ``test`` returns, if anything. */
function check(content, test) {
    return {
        content,
        trigger: "body",
        run: () => {
            const problem = test();
            if (problem) {
                throw new Error(`${content}: ${problem}`);
            }
        },
    };
}

registry.category("web_tour.tours").add("CentrapayFarmlandsRefusedTour", {
    steps: () =>
        [
            Centrapay.startCentrapayPayment(),
            recordDisplay(),
            // No balance: Centrapay refuses the card once charged.
            scan_barcode("434343434"),
            Centrapay.qrIsClosed(),
            {
                content: "the cashier is told why",
                trigger:
                    '.modal-body:contains("the customer\'s payment method declined it")',
            },
            Dialog.confirm(),
            check("the customer display showed the discounted order", () => {
                const shown = window.centrapayDisplaySent.find(
                    (data) =>
                        data.lines.every((line) => line.discount === "5") &&
                        data.amount.includes("1.88") &&
                        data.paymentLines.some(
                            (pl) =>
                                pl.name === "Centrapay" && pl.amount.includes("1.88")
                        )
                );
                return !shown && JSON.stringify(window.centrapayDisplaySent);
            }),
            check("the order lines lost the discount", () => {
                /* global posmodel */
                const discounts = posmodel
                    .get_order()
                    .lines.map((l) => l.get_discount());
                return discounts.some(Boolean) && String(discounts);
            }),
            PaymentScreen.totalIs("1.98"),
            {
                content: "the refused line is back at the full price",
                trigger:
                    ".paymentline:has(.payment-name:contains('Centrapay')) .payment-amount:contains('1.98')",
            },
            check("and so is the customer display", () => {
                const last = window.centrapayDisplaySent.at(-1);
                const full = last.amount.includes("1.98") && !last.lines[0].discount;
                return !full && JSON.stringify(last);
            }),
            // Odoo takes no other tender while a terminal line waits for a retry.
            PaymentScreen.clickPaymentlineDelButton("Centrapay", "1.98"),
            PaymentScreen.clickPaymentMethod("Cash"),
            PaymentScreen.remainingIs("0.00"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
            ReceiptScreen.totalAmountContains("1.98"),
            {
                content: "the receipt has no Farmlands discount",
                trigger: `.pos-receipt:not(:has(${DISCOUNT_LINE}))`,
            },
        ].flat(Infinity),
});

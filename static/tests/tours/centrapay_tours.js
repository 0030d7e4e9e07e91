import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import * as TextInputPopup from "@point_of_sale/../tests/tours/utils/text_input_popup_util";
import * as TicketScreen from "@point_of_sale/../tests/tours/utils/ticket_screen_util";
import {countClocks} from "@pos_centrapay/../tests/tours/utils/centrapay_clocks";
import {registry} from "@web/core/registry";

const {noMoreCalls, openPaymentScreen, pause, startCentrapayPayment} = Centrapay;

function finishPaidOrder() {
    // The POS validates a fully paid terminal order by itself.
    return [
        Centrapay.qrIsClosed(),
        ReceiptScreen.isShown(),
        Centrapay.receiptShowsCentrapay(),
    ];
}

registry.category("web_tour.tours").add("CentrapaySmokeTour", {
    steps: () =>
        [
            openPaymentScreen(),
            {
                content: "Centrapay is offered as a payment method",
                trigger: ".paymentmethod:contains('Centrapay')",
            },
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayPayTour", {
    steps: () =>
        [
            openPaymentScreen(),
            Centrapay.countCentrapayCalls(),
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            Centrapay.qrReadsAsPayUrl(),
            Centrapay.sandbox("pay", undefined, {scan: true}),
            finishPaidOrder(),
            // Paid: the status reads stopped.
            noMoreCalls("centrapay_get_status", 5000),
        ].flat(Infinity),
});

const CANCEL_ON_QR = {
    content: "the cashier cancels",
    trigger: ".modal .centrapay-cancel",
    run: "click",
};

const RETRY = {
    content: "the cashier tries again",
    trigger: ".paymentline .send_payment_request:contains('Retry')",
    run: "click",
};

/** Every timer of the terminal stops (tests/test_tours.py, test_timers_stop). */
registry.category("web_tour.tours").add("CentrapayTimersTour", {
    steps: () =>
        [
            openPaymentScreen(),
            Centrapay.countCentrapayCalls(),
            Centrapay.busDown(),
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            // The bus down: the till reads every 2 s.
            Centrapay.callsReach("centrapay_get_status", 2),
            Centrapay.busState("CONNECTED"),
            // The read already due; then, the bus delivering and the engine
            // running (the server's poll_ms is 0), none.
            pause(2500),
            noMoreCalls("centrapay_get_status", 8000),
            Centrapay.busState("DISCONNECTED"),
            // A final state (the cashier's cancel): no more reads.
            CANCEL_ON_QR,
            Centrapay.qrIsClosed(),
            noMoreCalls("centrapay_get_status", 5000),
            // A create that cannot reach the server is tried again 4 times,
            // after 2, 4, 8 and 16 s, then the cashier is told.
            {
                content: "the Odoo server cannot be reached",
                trigger: ".pos",
                run: () => {
                    window.centrapayOffline = ["centrapay_create_request"];
                    window.centrapayCalls = {};
                },
            },
            RETRY,
            {
                content: "the cashier is told the server cannot be reached",
                trigger: ".modal-body:contains('Could not reach the Odoo server')",
                timeout: 45000,
            },
            {
                content: "after 5 tries",
                trigger: "body",
                run: () => {
                    const tries = window.centrapayCalls.centrapay_create_request;
                    if (tries !== 5) {
                        throw new Error(`${tries} creates`);
                    }
                },
            },
            noMoreCalls("centrapay_create_request", 5000),
            Dialog.confirm(),
            // The line removed while its create waits to be tried again.
            RETRY,
            Centrapay.callsReach("centrapay_create_request", 6),
            {
                content: "the cashier removes the line",
                trigger:
                    ".paymentlines .paymentline .payment-infos:contains('Centrapay') ~ .delete-button",
                run: "click",
            },
            {
                content: "the line is gone",
                trigger:
                    ".payment-screen:not(:has(.paymentline .payment-infos:contains('Centrapay')))",
            },
            noMoreCalls("centrapay_create_request", 5000),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayCancelTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            {
                content: "the cashier cancels",
                trigger: ".modal .centrapay-cancel",
                run: "click",
            },
            Centrapay.qrIsClosed(),
            {
                content: "the line says, in plain words, what happened and what next",
                trigger:
                    ".paymentline .centrapay-outcome:contains('Cancelled at the till'):contains('Press Retry')",
            },
            pause(2500),
            {
                content: "the cashier's own cancel shows no second popup",
                trigger: "body:not(:has(.modal))",
            },
            {
                content: "the cashier simply tries again",
                trigger: ".paymentline .send_payment_request:contains('Retry')",
                run: "click",
            },
            Centrapay.qrIsShown(),
            Centrapay.sandbox("pay"),
            finishPaidOrder(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayExpireTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            Centrapay.sandbox("expire"),
            Centrapay.qrIsClosed(),
            {
                content: "the cashier is told it expired, and what to do next",
                trigger:
                    ".modal-body:contains('Expired: the customer did not pay in time'):contains('Press Retry')",
            },
            Dialog.confirm(),
            {
                content: "the line can be retried, and says why",
                trigger: ".paymentline .centrapay-outcome:contains('Expired')",
            },
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayUnreadableStatusTour", {
    steps: () =>
        [
            openPaymentScreen(),
            Centrapay.countCentrapayCalls(),
            // Only reads learn that the server refuses: no push comes.
            Centrapay.busDown(),
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            {
                content: "the QR waits while the server still answers",
                trigger: ".centrapay-qr-dialog[data-status='new']",
            },
            // tests/test_tours.py closes the session server-side now.
            {
                content: "the QR screen says the status can no longer be read",
                trigger:
                    ".centrapay-qr-dialog[data-status='error'] .centrapay-status-word:contains('Status unknown')",
            },
            {
                content: "the code is greyed out: nobody should scan it any more",
                trigger: ".centrapay-qr-dialog img.centrapay-qr.opacity-25",
            },
            Centrapay.qrIsClosed(),
            {
                content: "the cashier is told why, and what to do next",
                trigger:
                    ".modal-body:contains('not part of an open POS session'):contains('ask a manager to look up short code CP-')",
            },
            Dialog.confirm(),
            {
                content: "the line says the status is unknown",
                trigger:
                    ".paymentline .centrapay-outcome:contains('Payment status unknown')",
            },
            // An error the cashier must see: no more reads.
            noMoreCalls("centrapay_get_status", 5000),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayReloadTour", {
    steps: () =>
        [
            startCentrapayPayment(),
            {
                content: "the browser reloads mid-payment",
                trigger: ".centrapay-qr-dialog",
                run: () => window.location.reload(),
            },
            {
                content: "the POS returns to the pending payment by itself",
                trigger: ".pos .payment-screen",
            },
            Centrapay.qrIsShown(),
            Centrapay.qrReadsAsPayUrl(),
            Centrapay.sandbox("pay"),
            finishPaidOrder(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayUnverifiedLineTour", {
    steps: () =>
        [
            openPaymentScreen(),
            {
                content: "a Centrapay line claims a payment Centrapay never took",
                trigger: ".pos .payment-screen",
                run: () => {
                    const pos = window.posmodel;
                    const order = pos.get_order();
                    const method = pos.models["pos.payment.method"].find(
                        (m) => m.use_payment_terminal === "centrapay"
                    );
                    const line = order.add_paymentline(method);
                    line.set_amount(order.get_total_with_tax());
                    line.update({centrapay_request_id: "forged-request"});
                    line.set_payment_status("done");
                },
            },
            PaymentScreen.clickValidate(),
            {
                content: "the cashier is told why the order was not saved",
                trigger: ".modal-body:contains('cannot be verified')",
            },
            Dialog.confirm(),
            {
                content: "the order stays on the POS, unpaid",
                trigger: ".pos .payment-screen",
            },
        ].flat(Infinity),
});

/** Sell ``quantity`` Desk Pads with Centrapay, then open their refund. */
function payThenOpenRefund(quantity, refundQuantity) {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        ProductScreen.addOrderline("Desk Pad", quantity),
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("Centrapay"),
        Centrapay.qrIsShown(),
        Centrapay.sandbox("pay"),
        finishPaidOrder(),
        ReceiptScreen.clickNextOrder(),
        ...ProductScreen.clickRefund(),
        TicketScreen.selectOrder("-0001"),
        ProductScreen.clickNumpad(refundQuantity),
        TicketScreen.confirmRefund(),
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("Centrapay"),
        {
            content: "the cashier is asked first, with the amount and the code",
            trigger: ".modal-body:contains('Refund'):contains('to CP-')",
        },
        Dialog.confirm("Refund"),
    ];
}

registry.category("web_tour.tours").add("CentrapayFullRefundTour", {
    steps: () =>
        [
            payThenOpenRefund("1", "1"),
            ReceiptScreen.isShown(),
            Centrapay.receiptShowsRefund(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayPartialRefundTour", {
    steps: () =>
        [
            payThenOpenRefund("3", "1"),
            ReceiptScreen.isShown(),
            Centrapay.receiptShowsRefund(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayRefusedRefundTour", {
    steps: () =>
        [
            payThenOpenRefund("1", "1"),
            {
                content:
                    "the cashier is told Centrapay cannot refund it, and what to do",
                trigger: ".modal-body:contains('another way')",
            },
            Dialog.confirm(),
            {
                content: "the refund line stays, to retry or remove",
                trigger: ".paymentline .electronic_status",
            },
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayRefundWithoutRefundOrderTour", {
    steps: () =>
        [
            Chrome.startPoS(),
            Dialog.confirm("Open Register"),
            // A negative line on a new order: nothing of a sale is returned.
            ProductScreen.addOrderline("Desk Pad", "-1"),
            ProductScreen.clickPayButton(),
            PaymentScreen.clickPaymentMethod("Centrapay"),
            {
                content: "no refunded order: the POS asks for the receipt's code",
                trigger: ".modal:contains('Centrapay short code')",
            },
            TextInputPopup.inputText("CP-AAA-AAA"),
            Dialog.confirm(),
            {
                content: "the cashier is told a manager decides, and where",
                trigger: ".modal-body:contains('manager decides')",
            },
            Dialog.confirm(),
            {
                content: "nothing was refunded: the line is not done",
                trigger:
                    ".paymentline:not(:has(.electronic_status:contains('Successful')))",
            },
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CentrapayCloseWithPendingTour", {
    steps: () =>
        [
            // The register was opened before: a payment waits in it.
            Centrapay.closeRegister(),
            {
                content: "Centrapay stops the close and names the waiting payment",
                trigger: ".modal-body:contains('waiting for a payment of')",
            },
            {
                content: "with nothing about draft orders to review or cancel",
                trigger: ".modal:not(:has(button:contains('Cancel Orders')))",
            },
            {
                content: "the cashier closes the message",
                trigger:
                    ".modal:not(.o_inactive_modal):contains('waiting for a payment of') .modal-footer .btn-primary",
                run: "click",
            },
            {
                content: "the register is still open: the POS stays usable",
                trigger: ".close-pos-popup .button:contains('Close Register')",
            },
        ].flat(Infinity),
});

/** The centrapay line's terminal, as the till holds it. */
function centrapayLine() {
    return window.posmodel
        .get_order()
        .payment_ids.find(
            (line) => line.payment_method_id.use_payment_terminal === "centrapay"
        );
}

/**
 * The timers that end without the cashier: at the POS timeout (one void, then
 * nothing), when the line goes away while its QR waits, and when the terminal
 * closes (tests/test_tours.py, test_timers_end).
 */
registry.category("web_tour.tours").add("CentrapayTimerEndsTour", {
    steps: () =>
        [
            openPaymentScreen(),
            Centrapay.countCentrapayCalls(),
            {
                // The QR screen's countdown ticks every 250 ms while it shows.
                content: "note the 250 ms clocks started and cleared",
                trigger: ".pos",
                run: () => countClocks(250),
            },
            Centrapay.busState("CONNECTED"),
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            {
                content: "the QR screen's countdown clock runs",
                trigger: ".centrapay-qr-dialog",
                run: () => {
                    if (window.centrapayClocks.size !== 1) {
                        throw new Error(`${window.centrapayClocks.size} clocks`);
                    }
                },
            },
            // The bus delivers and the engine runs: no read before the POS
            // timeout (a 30 s expiry and 7 s of grace). There the request is
            // voided (by the till, or by the engine first, whose push the till
            // reads once), the QR closes, and nothing more is asked.
            noMoreCalls("centrapay_get_status", 8000),
            noMoreCalls("centrapay_get_status", 8000),
            {...Centrapay.qrIsClosed(), timeout: 40000},
            {
                content: "its countdown clock is cleared with it",
                trigger: "body",
                run: () => {
                    if (window.centrapayClocks.size !== 0) {
                        throw new Error(`${window.centrapayClocks.size} clocks left`);
                    }
                },
            },
            noMoreCalls("centrapay_cancel_request", 5000),
            noMoreCalls("centrapay_get_status", 5000),
            // The cashier is told the QR expired.
            Dialog.confirm(),
            // The line removed while its QR waits (the bus down: reads every
            // 2 s): the next tick sees it gone and reads no more.
            Centrapay.busDown(),
            RETRY,
            Centrapay.qrIsShown(),
            Centrapay.callsReach("centrapay_get_status", 1),
            {
                content: "the line goes away while its QR waits",
                trigger: ".centrapay-qr-dialog",
                run: () =>
                    window.posmodel.get_order().remove_paymentline(centrapayLine()),
            },
            Centrapay.qrIsClosed(),
            noMoreCalls("centrapay_get_status", 5000),
            // The terminal closes while a QR waits: its timers stop.
            PaymentScreen.clickPaymentMethod("Centrapay"),
            Centrapay.qrIsShown(),
            {
                content: "the till closes the terminal",
                trigger: ".centrapay-qr-dialog",
                run: () => centrapayLine().payment_method_id.payment_terminal.close(),
            },
            Centrapay.qrIsClosed(),
            noMoreCalls("centrapay_get_status", 5000),
            noMoreCalls("centrapay_create_request", 3000),
        ].flat(Infinity),
});

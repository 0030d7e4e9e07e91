/**
 * The customer display shows a real Centrapay request as the POS sends it:
 * the request's state comes from the POS's own status RPC, gets its QR code
 * drawn and is made into ``qrPaymentData`` by the POS's own code, and reaches
 * the display through the POS's channel. The URL names the request:
 * ?method=&session=&request=.
 */
import {centrapayQrDataUri} from "@pos_centrapay/app/utils/centrapay_qr";
import {centrapayQrPaymentData} from "@pos_centrapay/common/centrapay_status";
import {countClocks} from "@pos_centrapay/../tests/tours/utils/centrapay_clocks";
import {readQrCode} from "@pos_centrapay/../tests/tours/utils/centrapay_qr_reader";
import {registry} from "@web/core/registry";

const AMOUNT = "$ 12.50";
// How the POS formats its currency (env.utils.formatCurrency), for the remainder.
const FORMAT = (value) => `$ ${value.toFixed(2)}`;

function query(name) {
    return new URLSearchParams(window.location.search).get(name);
}

/** A server state as the POS keeps it while the request waits. */
function asThePosHasIt(state) {
    return {
        ...state,
        deadline: Date.now() + state.expires_in * 1000,
        qr: centrapayQrDataUri(state.url),
    };
}

async function requestState() {
    const response = await fetch(
        "/web/dataset/call_kw/pos.payment.method/centrapay_get_status",
        {
            method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({
                jsonrpc: "2.0",
                method: "call",
                params: {
                    model: "pos.payment.method",
                    method: "centrapay_get_status",
                    args: [
                        [Number(query("method"))],
                        query("request"),
                        Number(query("session")),
                    ],
                    kwargs: {},
                },
            }),
        }
    );
    return asThePosHasIt((await response.json()).result);
}

/** What the POS sends its display while a Centrapay line waits or has ended. */
function sendToDisplay(state, extra = {}) {
    window.centrapayState = state;
    new BroadcastChannel("UPDATE_CUSTOMER_DISPLAY").postMessage({
        lines: [
            {
                productName: "Desk Pad",
                price: AMOUNT,
                qty: "1.00",
                unit: "Units",
                unitPrice: AMOUNT,
                oldUnitPrice: "",
                customerNote: "",
                internalNote: "",
                comboParent: "",
                packLotLines: [],
                price_without_discount: AMOUNT,
                isSelected: false,
                imageSrc: "",
            },
        ],
        finalized: false,
        amount: AMOUNT,
        paymentLines: [{name: "Centrapay", amount: AMOUNT}],
        change: 0,
        generalNote: "",
        qrPaymentData: centrapayQrPaymentData({
            name: "Centrapay",
            amount: AMOUNT,
            state,
            format: FORMAT,
        }),
        centrapayPaidBy: [],
        ...extra,
    });
}

function check(content, trigger, test) {
    return {
        content,
        trigger,
        run: function () {
            const problem = test(this.anchor, window.centrapayState);
            if (problem) {
                throw new Error(`${content}: ${problem}`);
            }
        },
    };
}

registry.category("web_tour.tours").add("CentrapayCustomerDisplayTour", {
    steps: () => [
        {
            // The display's countdown ticks every 250 ms while the QR shows.
            content: "note the 250 ms clocks started and cleared",
            trigger: "div:contains('Welcome.')",
            run: () => countClocks(250),
        },
        {
            content: "the POS sends the waiting Centrapay request",
            trigger: "div:contains('Welcome.')",
            run: async () => sendToDisplay(await requestState()),
        },
        check(
            "the display shows exactly the request's QR code",
            ".centrapay-customer-qr img.centrapay-customer-qr-code",
            (img, state) => img.getAttribute("src") !== state.qr && "another QR code"
        ),
        {
            content: "which reads as the request's pay URL",
            trigger: ".centrapay-customer-qr img.centrapay-customer-qr-code[src]",
            run: async function () {
                window.centrapayScanned = await readQrCode(this.anchor.src);
                if (window.centrapayScanned !== window.centrapayState.url) {
                    throw new Error(`the QR code reads ${window.centrapayScanned}`);
                }
            },
        },
        check(
            "large enough to scan from the customer's side",
            ".centrapay-customer-qr img.centrapay-customer-qr-code",
            (img) => {
                const {width, height} = img.getBoundingClientRect();
                const side = Math.min(window.innerWidth, window.innerHeight);
                return (
                    (width < 300 || height < 300 || width < side * 0.5) &&
                    `${width}x${height} px on a ${window.innerWidth}x${window.innerHeight} screen`
                );
            }
        ),
        {
            content: "Centrapay's logo",
            trigger: ".centrapay-customer-qr img.centrapay-customer-logo",
        },
        {
            content: "the amount",
            trigger: `.centrapay-customer-amount:contains('${AMOUNT}')`,
        },
        check(
            "the short code",
            ".centrapay-customer-short-code:contains('CP-')",
            (el, state) => el.textContent.trim() !== state.short_code && el.textContent
        ),
        {
            content: "the countdown",
            trigger: ".centrapay-customer-countdown:contains(':')",
            run: () => {
                if (window.centrapayClocks.size !== 1) {
                    throw new Error(`${window.centrapayClocks.size} clocks`);
                }
            },
        },
        {
            content: "and the status in words",
            trigger:
                ".centrapay-customer-qr .centrapay-status-word:contains('Waiting for payment')",
        },
        {
            content:
                "the patron pays at the URL scanned, the POS learns it and tells the display",
            trigger: ".centrapay-customer-qr",
            run: async () => {
                const url = new URL(window.centrapayScanned);
                const id = url.pathname.split("/").pop();
                await fetch(`${url.origin}/_sandbox/payment-requests/${id}/pay`, {
                    method: "POST",
                    mode: "no-cors",
                });
                let now = await requestState();
                for (let n = 0; n < 40 && now.status !== "paid"; n++) {
                    await new Promise((resolve) => setTimeout(resolve, 250));
                    now = await requestState();
                }
                sendToDisplay(now);
            },
        },
        {
            content: "the display says it is paid",
            trigger: ".centrapay-customer-qr .centrapay-status-word:contains('Paid')",
        },
        check(
            "with what paid it, from Centrapay's paidBy",
            ".centrapay-customer-qr .centrapay-paid-by",
            (el, state) =>
                (!state.paid_by || !el.textContent.includes(state.paid_by)) &&
                el.textContent
        ),
        {
            content: "the order is done: the POS closes the QR code",
            trigger: ".centrapay-customer-qr",
            run: () =>
                sendToDisplay(window.centrapayState, {
                    finalized: true,
                    qrPaymentData: null,
                    centrapayPaidBy: [window.centrapayState.paid_by],
                }),
        },
        {
            content: "the thank-you screen",
            trigger: "div:contains('Thank you.')",
        },
        check(
            "still says what paid",
            ".centrapay-thanks-paid-by",
            (el, state) => !el.textContent.includes(state.paid_by) && el.textContent
        ),
        {
            content: "the QR code is gone, and its countdown clock with it",
            trigger: "body:not(:has(.centrapay-customer-qr))",
            run: () => {
                if (window.centrapayClocks.size !== 0) {
                    throw new Error(`${window.centrapayClocks.size} clocks left`);
                }
            },
        },
    ],
});

/**
 * CP-EXT-14: the display follows Centrapay's remainingAmount. The test hands
 * over what the till's status RPC answered (?states=[waiting, paid]): 2.50 of
 * the 12.50 paid with an external tender, then 5.00 paid by the customer in
 * their app (a partial payment), 5.00 left.
 */
function tillState(index) {
    return asThePosHasIt(JSON.parse(query("states"))[index]);
}

registry.category("web_tour.tours").add("CentrapayCustomerDisplayRemainderTour", {
    steps: () => [
        {
            content: "the POS sends the waiting request, 2.50 of it paid elsewhere",
            trigger: "div:contains('Welcome.')",
            run: () => sendToDisplay(tillState(0)),
        },
        {
            content: "the display shows what is still to pay through Centrapay",
            trigger:
                ".centrapay-customer-remaining[data-status='new']:contains('Still to pay through Centrapay') .centrapay-customer-remaining-amount:contains('$ 10.00')",
        },
        {
            content: "the customer still sees the full amount and the QR code",
            trigger: `.centrapay-customer-qr:has(img.centrapay-customer-qr-code) .centrapay-customer-amount:contains('${AMOUNT}')`,
        },
        {
            content:
                "the customer paid 5.00 of it in their app: the POS tells the display",
            trigger: ".centrapay-customer-remaining",
            run: () => sendToDisplay(tillState(1)),
        },
        {
            content: "the display says it is paid",
            trigger: ".centrapay-customer-qr .centrapay-status-word:contains('Paid')",
        },
        {
            content: "what Centrapay took",
            trigger:
                ".centrapay-customer-taken:contains('Paid through Centrapay: $ 5.00')",
        },
        {
            content: "and what is still due, to pay another way",
            trigger:
                ".centrapay-customer-remaining[data-status='paid']:contains('Still due') .centrapay-customer-remaining-amount:contains('$ 5.00')",
        },
        {
            content: "the POS closes the QR code: the order shows what is still due",
            trigger: ".centrapay-customer-qr",
            run: () =>
                sendToDisplay(window.centrapayState, {
                    qrPaymentData: null,
                    paymentLines: [{name: "Centrapay", amount: "$ 5.00"}],
                    centrapayDue: "$ 7.50",
                }),
        },
        {
            content: "the order view says what is still due",
            trigger: ".centrapay-customer-due:contains('Still due'):contains('$ 7.50')",
        },
        {
            content: "the QR code is gone",
            trigger: "body:not(:has(.centrapay-customer-qr))",
        },
    ],
});

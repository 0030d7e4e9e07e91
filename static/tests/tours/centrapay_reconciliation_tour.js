import {registry} from "@web/core/registry";

registry.category("web_tour.tours").add("CentrapayReconciliationTour", {
    steps: () => [
        {
            content:
                "the URL is the refreshing action's, so a reload shows fresh items",
            trigger: ".o_list_renderer",
            run: () => {
                if (!window.location.pathname.includes("/centrapay-reconciliation")) {
                    throw new Error(
                        `reload would show stale items: ${window.location}`
                    );
                }
            },
        },
        {
            content: "the session's group total carries its currency",
            trigger: ".o_group_header:contains('$')",
        },
        {
            content: "open the session's group",
            trigger: ".o_group_header",
            run: "click",
        },
        {
            content: "a payment taken at Centrapay with no POS payment: refund it",
            trigger:
                ".o_data_row:contains('Paid at Centrapay, no POS payment') .o_centrapay_refund_orphan",
            run: "click",
        },
        {
            content: "the dialog has a title, not 'Odoo'",
            trigger: ".modal-title:contains('Refund a Centrapay payment')",
        },
        {
            content: "and names the amount and the short code before the refund",
            trigger: ".modal-body:contains('6.00'):contains('CP-')",
        },
        {
            content: "confirm the refund",
            trigger: ".modal-footer .btn-primary:contains('Refund')",
            run: "click",
        },
        {
            content: "the payment is matched now",
            trigger: ".o_data_row:contains('Matched')",
        },
        {
            content: "and nothing is left to check in the session",
            trigger:
                ".o_list_renderer:not(:has(.o_data_row:contains('no POS payment')))",
        },
    ],
});

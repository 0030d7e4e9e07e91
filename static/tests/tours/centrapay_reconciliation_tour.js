import {registry} from "@web/core/registry";

registry.category("web_tour.tours").add("CentrapayReconciliationTour", {
    steps: () => [
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
            content: "confirm the refund",
            trigger: ".modal-footer .btn-primary",
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

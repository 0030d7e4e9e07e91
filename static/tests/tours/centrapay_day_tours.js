import * as Centrapay from "@pos_centrapay/../tests/tours/utils/centrapay_util";
import {registry} from "@web/core/registry";

/** Back office: a manager refunds part of a Centrapay sale from its request. */
registry.category("web_tour.tours").add("CentrapayBackOfficeRefundTour", {
    steps: () => [
        {
            content: "the request's Refund button",
            trigger: ".o_form_view .o_form_statusbar button:contains('Refund')",
            run: "click",
        },
        {
            content: "part of it",
            trigger: ".modal .o_field_widget[name='amount'] input",
            run: "edit 2.00",
        },
        {
            content: "with a reason",
            trigger: ".modal .o_field_widget[name='reason'] input",
            run: "edit Cold coffee",
        },
        {
            content: "refund it",
            trigger: ".modal-footer button[name='action_refund']",
            run: "click",
        },
        {
            content: "Centrapay accepted it",
            trigger: ".o_notification:contains('Centrapay accepted the refund')",
        },
    ],
});

/** The till: the day's register closes, nothing Centrapay left to check. */
registry.category("web_tour.tours").add("CentrapayCloseDayTour", {
    steps: () =>
        [
            Centrapay.closeRegister(),
            {
                content: "the register closed: the POS offers to open the next one",
                trigger: ".screen-login .btn.open-register-btn",
            },
        ].flat(Infinity),
});

/** Back office: a manager closes a session despite Centrapay, with a record. */
registry.category("web_tour.tours").add("CentrapayCloseDespiteTour", {
    steps: () => [
        {
            content: "the override is offered: a payment still waits",
            trigger: ".o_form_statusbar button[name='action_centrapay_close_anyway']",
            run: "click",
        },
        {
            content: "the manager confirms",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "the session is closed",
            trigger:
                ".o_statusbar_status button.o_arrow_button_current:contains('Closed')",
        },
        {
            content: "and the decision is on the session",
            trigger:
                ".o_field_widget[name='centrapay_close_forced_by']:contains('A powerful PoS man!')",
        },
    ],
});

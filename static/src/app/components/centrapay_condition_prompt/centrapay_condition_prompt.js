import {Component, useState} from "@odoo/owl";
import {CentrapayQrDialog} from "@pos_centrapay/app/components/centrapay_qr_dialog/centrapay_qr_dialog";
import {useService} from "@web/core/utils/hooks";

/**
 * Centrapay's payment conditions on the QR or barcode screen (CP-EXT-8,
 * CP-EXT-9): each condition awaiting the till with its own message, word for
 * word, and Accept and Decline; those awaiting the customer as information.
 * The answer goes to the server, which reads the request again at once.
 */
export class CentrapayConditionPrompt extends Component {
    static template = "pos_centrapay.CentrapayConditionPrompt";
    static props = {state: Object};

    setup() {
        this.pos = useService("pos");
        this.state = useState(this.props.state);
    }

    get awaitingMerchant() {
        return this.state.status === "new" ? this.state.awaiting_merchant || [] : [];
    }

    get awaitingPatron() {
        return this.state.status === "new" ? this.state.awaiting_patron || [] : [];
    }

    /** CP-EXT-14: what is left while other assets paid part of the request. */
    get remaining() {
        const {status, remaining_amount: left, amount} = this.state;
        if (status !== "new" || !left || left >= amount) {
            return "";
        }
        return this.pos.env.utils.formatCurrency(left);
    }

    answer(condition, accept) {
        const line = this.pos
            .get_order()
            ?.payment_ids.find((payment) => payment.uuid === this.state.payment_uuid);
        line?.payment_method_id.payment_terminal?.centrapayAnswerCondition(
            line,
            condition.id,
            accept
        );
    }
}

CentrapayQrDialog.components = {
    ...CentrapayQrDialog.components,
    CentrapayConditionPrompt,
};

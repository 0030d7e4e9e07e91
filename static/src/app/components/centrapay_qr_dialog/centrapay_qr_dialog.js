import {Component, onWillUnmount, useState} from "@odoo/owl";
import {
    CENTRAPAY_FINAL_STATUSES,
    centrapayCountdown,
    centrapayOutcome,
    centrapayStatusText,
} from "@pos_centrapay/common/centrapay_status";
import {Dialog} from "@web/core/dialog/dialog";
import {useService} from "@web/core/utils/hooks";

/**
 * The QR code of a Centrapay request, its amount, short code and countdown,
 * and its status in words at all times (CP-CORE-15).
 */
export class CentrapayQrDialog extends Component {
    static template = "pos_centrapay.CentrapayQrDialog";
    static components = {Dialog};
    static props = {
        state: Object,
        amount: String,
        onCancel: Function,
        close: Function,
    };

    setup() {
        this.pos = useService("pos");
        this.state = useState(this.props.state);
        this.clock = useState({now: Date.now()});
        const timer = setInterval(() => (this.clock.now = Date.now()), 250);
        onWillUnmount(() => clearInterval(timer));
    }

    get countdown() {
        return centrapayCountdown(this.state.deadline, this.clock.now);
    }

    get status() {
        return centrapayStatusText(this.state);
    }

    /** A request that ended unpaid: what the cashier does next. */
    get outcome() {
        if (!this.isFinal || this.state.status === "paid") {
            return null;
        }
        return centrapayOutcome(this.state);
    }

    get isFinal() {
        return CENTRAPAY_FINAL_STATUSES.includes(this.state.status);
    }

    get statusClass() {
        return (
            {
                paid: "text-success",
                cancelled: "text-danger",
                expired: "text-danger",
                error: "text-danger",
            }[this.state.status] || "text-primary"
        );
    }

    cancel() {
        this.props.onCancel();
    }

    /** "Customer not present": replace the request by one with patronNotPresent. */
    onPatronNotPresent(event) {
        const line = this.pos
            .get_order()
            ?.payment_ids.find((payment) => payment.uuid === this.state.payment_uuid);
        line?.payment_method_id.payment_terminal?.centrapaySetPatronNotPresent(
            line,
            event.target.checked
        );
    }
}

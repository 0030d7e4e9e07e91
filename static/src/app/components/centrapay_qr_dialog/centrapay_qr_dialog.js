import {Component, onWillUnmount, useState} from "@odoo/owl";
import {Dialog} from "@web/core/dialog/dialog";

/** The QR code of a Centrapay request, its amount, short code and countdown. */
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
        this.state = useState(this.props.state);
        this.clock = useState({now: Date.now()});
        const timer = setInterval(() => (this.clock.now = Date.now()), 250);
        onWillUnmount(() => clearInterval(timer));
    }

    get secondsLeft() {
        return Math.max(0, Math.ceil((this.state.deadline - this.clock.now) / 1000));
    }

    get countdown() {
        const seconds = this.secondsLeft;
        return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    }

    cancel() {
        this.props.onCancel();
    }
}

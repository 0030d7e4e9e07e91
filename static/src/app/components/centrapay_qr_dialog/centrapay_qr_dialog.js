import {Component, onWillUnmount, useState} from "@odoo/owl";
import {
    CENTRAPAY_FINAL_STATUSES,
    centrapayCountdown,
    centrapayOutcome,
    centrapayStatusText,
} from "@pos_centrapay/common/centrapay_status";
import {Dialog} from "@web/core/dialog/dialog";
import {_t} from "@web/core/l10n/translation";
import {useBarcodeReader} from "@point_of_sale/app/barcode/barcode_reader_hook";
import {useService} from "@web/core/utils/hooks";

// Every kind of scan the POS's barcode reader may report: while this screen is
// open, a scanned code is the customer's (exclusive), never a product.
const SCAN_TYPES = [
    "product",
    "weight",
    "price",
    "discount",
    "client",
    "cashier",
    "coupon",
    "lot",
    "package",
    "location",
    "error",
];

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
        this.entry = useState({open: false, code: ""});
        useBarcodeReader(
            Object.fromEntries(
                SCAN_TYPES.map((type) => [type, (parsed) => this.useCode(parsed.code)])
            ),
            true
        );
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

    get isBarcode() {
        return this.state.flow === "barcode";
    }

    get title() {
        return this.isBarcode
            ? _t("Centrapay: the customer's code")
            : _t("Scan to pay with Centrapay");
    }

    /** Codes are taken while a QR code waits (not once a code was used). */
    get takesCodes() {
        return !this.isBarcode && !this.isFinal && !this.state.recreating;
    }

    _line() {
        return this.pos
            .get_order()
            ?.payment_ids.find((payment) => payment.uuid === this.state.payment_uuid);
    }

    /** The customer's code, scanned or typed: the server checks and decodes it. */
    async useCode(code) {
        if (!this.takesCodes || !code || !String(code).trim()) {
            return;
        }
        const line = this._line();
        await line?.payment_method_id.payment_terminal?.centrapayUseBarcode(
            line,
            String(code).trim()
        );
    }

    openEntry() {
        this.entry.open = true;
    }

    onSubmitCode(event) {
        event.preventDefault();
        this.useCode(this.entry.code);
    }

    /** "Customer not present": replace the request by one with patronNotPresent. */
    onPatronNotPresent(event) {
        const line = this._line();
        line?.payment_method_id.payment_terminal?.centrapaySetPatronNotPresent(
            line,
            event.target.checked
        );
    }
}

/**
 * The customer display's QR screen for a Centrapay request: the branded QR
 * code at a size a phone scans from the customer's side, the amount, the short
 * code, the countdown and the status in words; "Paid with ..." once paid;
 * with a partial payment, what Centrapay took and what is still due (CP-EXT-14).
 * It follows the POS live: the display's data changes while the dialog stays.
 */
import {onWillUnmount, useState} from "@odoo/owl";
import {
    CENTRAPAY_FINAL_STATUSES,
    centrapayCountdown,
    centrapayStatusText,
} from "@pos_centrapay/common/centrapay_status";
import {CustomerFacingQR} from "@point_of_sale/customer_display/customer_facing_qr";
import {patch} from "@web/core/utils/patch";
import {useService} from "@web/core/utils/hooks";

CustomerFacingQR.props = {
    ...CustomerFacingQR.props,
    centrapay: {type: Object, optional: true},
};

patch(CustomerFacingQR.prototype, {
    setup() {
        super.setup(...arguments);
        this.centrapayDisplay = useState(useService("customer_display_data"));
        this.centrapayClock = useState({now: Date.now()});
        const timer = setInterval(() => (this.centrapayClock.now = Date.now()), 250);
        onWillUnmount(() => clearInterval(timer));
    },

    /** What the POS sends now, or what the dialog was opened with. */
    get centrapayData() {
        const live = this.centrapayDisplay.qrPaymentData;
        return live?.centrapay ? live : this.props.centrapay && this.props;
    },

    get centrapay() {
        return this.centrapayData?.centrapay;
    },

    get centrapayStatus() {
        return centrapayStatusText(this.centrapay);
    },

    get centrapayFinal() {
        return CENTRAPAY_FINAL_STATUSES.includes(this.centrapay?.status);
    },

    get centrapayCountdown() {
        return centrapayCountdown(this.centrapay.deadline, this.centrapayClock.now);
    },
});

import {AlertDialog} from "@web/core/confirmation_dialog/confirmation_dialog";
import {ClosePosPopup} from "@point_of_sale/app/navbar/closing_popup/closing_popup";
import {patch} from "@web/core/utils/patch";

patch(ClosePosPopup.prototype, {
    /** Centrapay's refusal is no matter of draft orders: say it, offer nothing else. */
    async handleClosingError(response) {
        if (!response.centrapay) {
            return super.handleClosingError(...arguments);
        }
        this.dialog.add(AlertDialog, {
            title: response.title,
            body: response.message,
        });
    },
});

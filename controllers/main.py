import json
import logging

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)


class CentrapayWebhookController(http.Controller):
    @http.route(
        "/pos_centrapay/webhook",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def centrapay_webhook(self, **_kwargs):
        """Receive a Centrapay notification (SPEC §11).

        Verified (ES256 JWT, audience, body hash), deduplicated by notification id,
        then the request is re-read from Centrapay: its status is the truth.
        """
        # Cached: Odoo replays the request on a serialization failure.
        raw_body = request.httprequest.get_data()
        try:
            payment_request_id = json.loads(raw_body)["data"]["paymentRequestId"]
        except (ValueError, KeyError, TypeError):
            return request.make_json_response({"error": "malformed"}, status=400)
        Request = request.env["centrapay.payment.request"].sudo()
        outcome = Request._centrapay_handle_webhook(
            str(payment_request_id),
            request.httprequest.headers.get("Authorization"),
            raw_body,
        )
        status = {"rejected": 401, "unavailable": 503}.get(outcome, 200)
        return request.make_json_response({"result": outcome}, status=status)

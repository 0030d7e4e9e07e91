import json
import logging

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

# A notification is small; anything bigger is not Centrapay's.
MAX_BODY_BYTES = 64 * 1024


class CentrapayWebhookController(http.Controller):
    @http.route(
        "/pos_centrapay/webhook",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
        # Werkzeug refuses (413) a longer body before it is read, also a
        # chunked one; without this, Odoo reads up to its own (large) limit.
        max_content_length=MAX_BODY_BYTES,
    )
    def centrapay_webhook(self, **_kwargs):
        """Receive a Centrapay notification (doc §11): verify, record, answer.

        The model verifies it (ES256 JWT, audience, body hash) and wakes the
        status engine; no Centrapay call is made before answering.
        """
        # Cached: Odoo replays the request on a serialization failure.
        raw_body = request.httprequest.get_data()
        if len(raw_body) >= MAX_BODY_BYTES:
            # A chunked body is cut at the route's limit, not refused.
            _logger.info("Centrapay webhook refused: body too large")
            return request.make_json_response({"error": "too_large"}, status=413)
        payment_request_id = _payment_request_id(raw_body)
        if payment_request_id is None:
            _logger.info("Centrapay webhook refused: malformed body")
            return request.make_json_response({"error": "malformed"}, status=400)
        Event = request.env["centrapay.webhook.event"].sudo()
        outcome = Event._centrapay_handle_webhook(
            payment_request_id,
            request.httprequest.headers.get("Authorization"),
            raw_body,
        )
        status = {"rejected": 401, "unavailable": 503}.get(outcome, 200)
        return request.make_json_response({"result": outcome}, status=status)


def _payment_request_id(raw_body):
    """The notification's payment request id, or None for a malformed body."""
    try:
        body = json.loads(raw_body)
        data = body["data"]
        if isinstance(data, str):
            # Some senders encode ``data`` as a JSON string; the verifier hashes
            # the raw body, so both forms verify the same.
            data = json.loads(data)
        value = data["paymentRequestId"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    value = str(value)
    return value if 0 < len(value) <= 64 else None

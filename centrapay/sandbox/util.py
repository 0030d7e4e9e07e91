"""Small helpers shared by the sandbox modules: ids, timestamps, errors."""

import re
import secrets
import time
import uuid
from http import HTTPStatus

_INT_RE = re.compile(r"-?[0-9]+")
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58_id(length=22):
    """Random id shaped like Centrapay's 22-character base58 ids."""
    return "".join(secrets.choice(BASE58) for _ in range(length))


def hex_id(length=24):
    """Random lowercase hex id (Mongo-style, as in ``mc_5efbe2fb…``)."""
    return secrets.token_hex(length // 2)


def uuid_hex():
    """Random 32-character hex id, as used for Payment Activity ids."""
    return uuid.uuid4().hex


def iso(ts):
    """Format an epoch timestamp as ISO-8601 UTC with milliseconds and ``Z``."""
    seconds, millis = divmod(round(ts * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class ApiError(Exception):
    """An error answered with the envelope ``{statusCode, error, message}``."""

    def __init__(self, status, message, reason=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}

    def body(self):
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        body = {
            "statusCode": self.status,
            "error": phrase,
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        return body


def bad_request(message, reason=None):
    return ApiError(400, message, reason)


def forbidden(message="Forbidden", reason=None):
    return ApiError(403, message, reason)


def parse_int(value, field, *, allow_negative=False, allow_zero=False):
    """Parse a bignumber-ish integer given as a digit string or a JSON integer.

    doc §3.2: examples mix strings and numbers, so both are accepted on input.
    """
    if isinstance(value, bool) or value is None:
        raise bad_request(
            f"{field} is required" if value is None else f"{field} is invalid"
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_RE.fullmatch(value):
        number = int(value)
    else:
        raise bad_request(f"{field} must be an integer")
    if number < 0 and not allow_negative:
        raise bad_request(f"{field} must be positive")
    if number == 0 and not allow_zero:
        raise bad_request(f"{field} must be positive")
    return number

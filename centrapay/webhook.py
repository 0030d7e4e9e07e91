"""Verification of Centrapay webhook notifications (doc §11.1).

A notification is an HTTP POST whose body is the Notification JSON and whose
``Authorization`` header carries an ES256 JWT signed by a key from Centrapay's
JWKS. The JWT binds the audience (our webhook URL) and the SHA-256 of the raw
body. Signature checks are done by PyJWT/cryptography, never by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import requests
from jwt.algorithms import ECAlgorithm
from jwt.utils import base64url_decode, base64url_encode

from .errors import WebhookVerificationError

__all__ = [
    "DEFAULT_JWKS_URL",
    "ERROR_CODES",
    "WebhookVerificationError",
    "WebhookVerifier",
]

DEFAULT_JWKS_URL = "https://auth.centrapay.com/api/.well-known/jwks.json"

ERROR_CODES = frozenset(
    {
        "missing_token",  # no Authorization header / empty token
        "malformed",  # not a JWT, bad claims, or a body that is not a Notification
        "unsupported_algorithm",  # anything but ES256 (none, HS256, RS256…)
        "unknown_kid",  # kid absent from the JWKS, even after a refetch
        "bad_signature",
        "expired",  # past exp, or older than max_age after iat
        "not_yet_valid",  # iat in the future
        "wrong_audience",
        "body_hash_mismatch",
        "jwks_unavailable",  # transient: the JWKS could not be fetched
    }
)

_ALGORITHM = "ES256"
_MAX_CACHE_SECONDS = 24 * 3600
_MAX_AGE_RE = re.compile(
    r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE
)
_NO_CACHE_RE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)

_log = logging.getLogger(__name__)


def _cache_seconds(cache_control: str | None, default: float) -> float:
    """How long a JWKS response may be reused, from its Cache-Control header."""
    if not cache_control:
        return default
    if _NO_CACHE_RE.search(cache_control):
        return 0.0
    match = _MAX_AGE_RE.search(cache_control)
    if match:
        return float(min(int(match.group(1)), _MAX_CACHE_SECONDS))
    return default


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim; doc §11.1: Centrapay may send it as a string."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
    ):
        raise WebhookVerificationError("malformed", f"{name} is not a number")
    return float(value)


def _public_p256_jwk(jwk: Mapping[str, Any]) -> dict:
    """The public members of a P-256 JWK, coordinates padded to 32 bytes.

    Only public members are kept: a stray ``d`` would make PyJWT build a private
    key. Some encoders (PyJWT 2.8's ``to_jwk`` among them) drop leading zero
    bytes; RFC 7518 §6.2.1.2 wants full length, and padding restores it
    without changing the point.
    """
    public = {"kty": jwk["kty"], "crv": jwk["crv"]}
    for name in ("x", "y"):
        raw = base64url_decode(jwk[name])
        if len(raw) > 32:
            raise ValueError(f"{name} is longer than 32 bytes")
        public[name] = base64url_encode(raw.rjust(32, b"\0")).decode()
    return public


def _strip_bearer(header: str | None) -> str:
    if header is None:
        return ""
    parts = header.split(None, 1)
    # doc §11.1: the Bearer prefix is undocumented, so accept it or not.
    if parts and parts[0].lower() == "bearer":
        return parts[1].strip() if len(parts) > 1 else ""
    return header.strip()


class WebhookVerifier:
    """Verify notifications against a JWKS, with caching and key rotation.

    ``audience`` is our webhook URL as registered with Centrapay. ``leeway`` is
    the clock-skew allowance; ``max_age`` bounds ``now - iat`` in addition to
    ``exp`` (doc §11.1 allows "iat + your own window"). The JWKS is cached for
    its ``Cache-Control: max-age`` (else ``default_cache_seconds``); an unknown
    ``kid`` triggers one refetch, at most every ``min_refetch_interval`` seconds.
    Thread-safe.
    """

    def __init__(
        self,
        jwks_url: str,
        audience: str,
        *,
        session: requests.Session | None = None,
        leeway: float = 30,
        max_age: float = 300,
        clock: Callable[[], float] = time.time,
        default_cache_seconds: float = 300,
        min_refetch_interval: float = 30,
        timeout: tuple[float, float] = (3.05, 5.0),
    ) -> None:
        if not audience:
            raise ValueError("audience is required")
        self.jwks_url = jwks_url
        self.audience = audience
        self.leeway = leeway
        self.max_age = max_age
        self.default_cache_seconds = default_cache_seconds
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._expires_at = float("-inf")
        self._fetched_at = float("-inf")

    def __repr__(self) -> str:
        return (
            f"WebhookVerifier(jwks_url={self.jwks_url!r}, audience={self.audience!r})"
        )

    # ------------------------------------------------------------------ JWKS

    def _fetch_jwks(self, now: float) -> None:
        """Fetch and parse the JWKS; caller holds the lock."""
        self._fetched_at = now
        try:
            response = self._session.get(
                self.jwks_url,
                timeout=self.timeout,
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise WebhookVerificationError(
                "jwks_unavailable",
                f"{type(exc).__name__} fetching JWKS",
                transient=True,
            ) from exc
        jwks = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(jwks, list):
            raise WebhookVerificationError(
                "jwks_unavailable", "JWKS has no keys list", transient=True
            )
        keys = {}
        for jwk in jwks:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                continue
            if jwk.get("alg", _ALGORITHM) != _ALGORITHM:
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[jwk["kid"]] = ECAlgorithm.from_jwk(_public_p256_jwk(jwk))
            except (jwt.InvalidKeyError, KeyError, ValueError, TypeError) as exc:
                _log.warning("Ignoring invalid JWKS key %s: %s", jwk["kid"], exc)
        self._keys = keys
        ttl = _cache_seconds(
            response.headers.get("Cache-Control"), self.default_cache_seconds
        )
        self._expires_at = now + ttl
        _log.debug("Fetched JWKS with %d usable key(s), cached %.0fs", len(keys), ttl)

    def _key_for(self, kid: str) -> Any:
        with self._lock:
            now = self._clock()
            fetched_now = False
            if now >= self._expires_at:
                self._fetch_jwks(now)
                fetched_now = True
            key = self._keys.get(kid)
            if (
                key is None
                and not fetched_now
                and (now - self._fetched_at >= self.min_refetch_interval)
            ):
                # Key rotation: a new kid may be newer than our cached JWKS.
                self._fetch_jwks(now)
                key = self._keys.get(kid)
        if key is None:
            raise WebhookVerificationError("unknown_kid", f"kid {kid!r} not in JWKS")
        return key

    # ---------------------------------------------------------------- verify

    def verify(self, authorization_header: str | None, raw_body: bytes) -> dict:
        """Verify a notification and return the parsed Notification.

        ``raw_body`` must be the exact bytes received: the hash covers them, not
        a re-serialisation. Raises :class:`WebhookVerificationError`. Does not
        deduplicate.
        """
        if not isinstance(raw_body, bytes | bytearray | memoryview):
            raise TypeError("raw_body must be bytes")
        raw_body = bytes(raw_body)
        token = _strip_bearer(authorization_header)
        if not token:
            raise WebhookVerificationError("missing_token")
        try:
            # PyJWTError, not only DecodeError: a header PyJWT refuses (a kid
            # that is not a string, a bad crit) raises InvalidTokenError.
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise WebhookVerificationError("malformed", "not a JWT") from exc
        if header.get("alg") != _ALGORITHM:
            raise WebhookVerificationError(
                "unsupported_algorithm", f"alg {header.get('alg')!r}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise WebhookVerificationError("malformed", "JWT header has no kid")
        key = self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[_ALGORITHM],
                # Time and audience are checked below: Centrapay sends iat/exp as
                # strings (doc §11.1), which PyJWT rejects, and we want our codes.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise WebhookVerificationError("bad_signature") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise WebhookVerificationError("unsupported_algorithm") from exc
        except jwt.PyJWTError as exc:
            raise WebhookVerificationError("malformed", type(exc).__name__) from exc
        self._check_times(claims)
        self._check_audience(claims.get("aud"))
        self._check_body_hash(claims, raw_body)
        return self._parse_notification(raw_body)

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        iat = _numeric_date(claims, "iat")
        exp = _numeric_date(claims, "exp")
        if iat is None:
            raise WebhookVerificationError("malformed", "iat is missing")
        if iat > now + self.leeway:
            raise WebhookVerificationError("not_yet_valid", "iat is in the future")
        if now > iat + self.max_age + self.leeway:
            raise WebhookVerificationError("expired", "older than max_age")
        if exp is not None and now > exp + self.leeway:
            raise WebhookVerificationError("expired", "past exp")

    def _check_audience(self, aud: Any) -> None:
        # doc §11.1: aud equals our webhook base URL; a trailing "/" is ignored.
        wanted = self.audience.rstrip("/")
        candidates = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a.rstrip("/") == wanted for a in candidates):
            raise WebhookVerificationError("wrong_audience", f"aud {aud!r}")

    @staticmethod
    def _check_body_hash(claims: Mapping[str, Any], raw_body: bytes) -> None:
        expected = claims.get("request_body_sha256")
        if expected is None:
            # Centrapay omits the claim only for requests without a body.
            if raw_body:
                raise WebhookVerificationError(
                    "body_hash_mismatch", "body present but request_body_sha256 absent"
                )
            return
        if not isinstance(expected, str):
            raise WebhookVerificationError("malformed", "request_body_sha256 not a str")
        actual = hashlib.sha256(raw_body).hexdigest()
        if not hmac.compare_digest(actual, expected.strip().lower()):
            raise WebhookVerificationError("body_hash_mismatch")

    @staticmethod
    def _parse_notification(raw_body: bytes) -> dict:
        try:
            notification = json.loads(raw_body)
        except ValueError as exc:
            raise WebhookVerificationError("malformed", "body is not JSON") from exc
        if not isinstance(notification, dict):
            raise WebhookVerificationError("malformed", "body is not a JSON object")
        for field in ("id", "type"):
            value = notification.get(field)
            if not isinstance(value, str) or not value:
                raise WebhookVerificationError("malformed", f"no notification {field}")
        data = notification.get("data")
        if isinstance(data, str):
            # doc §11.1: the model types data as "string" but describes an
            # object; decode it when it holds JSON.
            try:
                decoded = json.loads(data)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                notification["data"] = decoded
        return notification

"""WebhookVerifier against a local JWKS HTTP server and locally signed tokens."""

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from centrapay.errors import WebhookVerificationError
from centrapay.tests.notification_dedupe import NotificationDeduplicator
from centrapay.webhook import ERROR_CODES, WebhookVerifier

AUD = "https://pos.example.com/centrapay/webhook"
NOW = 1_700_000_000.0
BODY = json.dumps(
    {
        "id": "ntf_1",
        "type": "payment-request:paid",
        "data": {"type": "payment", "paymentRequestId": "PR1"},
        "accountId": "acc1",
        "test": True,
        "createdAt": "2023-11-14T22:13:20.000Z",
    },
    indent=1,  # whitespace on purpose: the hash must cover the raw bytes
).encode()


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(private_key, kid, coordinate_bytes=32):
    numbers = private_key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(
            numbers.x.to_bytes(32, "big").lstrip(b"\0").rjust(coordinate_bytes, b"\0")
        ),
        "y": b64url(
            numbers.y.to_bytes(32, "big").lstrip(b"\0").rjust(coordinate_bytes, b"\0")
        ),
        "kid": kid,
        "use": "sig",
        "alg": "ES256",
    }


def sign(private_key, kid, body=BODY, **claims):
    payload = {
        "iat": int(NOW),
        "exp": int(NOW) + 300,
        "aud": AUD,
        "request_body_sha256": hashlib.sha256(body).hexdigest(),
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, private_key, algorithm="ES256", headers={"kid": kid})


class JwksServer:
    """Serves a mutable JWKS on 127.0.0.1 and counts fetches."""

    def __init__(self):
        self.jwks = {"keys": []}
        self.cache_control = "public, max-age=600"
        self.status = 200
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                body = json.dumps(server.jwks).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                if server.cache_control is not None:
                    self.send_header("Cache-Control", server.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = (
            f"http://127.0.0.1:{self.httpd.server_port}/api/.well-known/jwks.json"
        )
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def key():
    return new_key()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def verifier(jwks_server, key, clock):
    jwks_server.jwks = {"keys": [public_jwk(key, "k1")]}
    return WebhookVerifier(jwks_server.url, AUD, clock=clock)


def reject_code(verifier, header, body=BODY):
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(header, body)
    assert info.value.code in ERROR_CODES
    return info.value.code


# ------------------------------------------------------------------ accepted


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer ", "  Bearer  "])
def test_valid_notification_with_or_without_bearer(verifier, key, prefix):
    notification = verifier.verify(prefix + sign(key, "k1"), BODY)
    assert notification == json.loads(BODY)


def test_iat_and_exp_as_numeric_strings(verifier, key):
    # doc §11.1: the documented example carries iat/exp as strings.
    token = sign(key, "k1", iat=str(int(NOW)), exp=str(int(NOW) + 300))
    assert verifier.verify(token, BODY)["id"] == "ntf_1"


def test_body_as_bytearray_and_memoryview(verifier, key):
    token = sign(key, "k1")
    assert verifier.verify(token, bytearray(BODY))["id"] == "ntf_1"
    assert verifier.verify(token, memoryview(BODY))["id"] == "ntf_1"


def test_str_body_is_a_programming_error(verifier, key):
    with pytest.raises(TypeError):
        verifier.verify(sign(key, "k1"), BODY.decode())


def test_audience_trailing_slash_and_list(verifier, key):
    assert verifier.verify(sign(key, "k1", aud=AUD + "/"), BODY)
    assert verifier.verify(sign(key, "k1", aud=["https://other", AUD]), BODY)


def test_exp_within_leeway_is_accepted(verifier, key, clock):
    clock.now = NOW + 300 + 29  # exp + leeway(30) - 1
    assert verifier.verify(sign(key, "k1"), BODY)


def test_data_string_holding_json_is_decoded(verifier, key):
    # doc §11.1: the model types data as "string" while describing an object.
    body = json.dumps(
        {"id": "n2", "type": "payment-request:paid", "data": json.dumps({"a": 1})}
    ).encode()
    assert verifier.verify(sign(key, "k1", body=body), body)["data"] == {"a": 1}


# ------------------------------------------------------------------ rejected


def test_signed_by_another_key_is_bad_signature(verifier):
    assert reject_code(verifier, sign(new_key(), "k1")) == "bad_signature"


def test_tampered_signature_is_bad_signature(verifier, key):
    header, payload, signature = sign(key, "k1").split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 0xFF
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert reject_code(verifier, f"{header}.{payload}.{forged}") == "bad_signature"


def test_unknown_kid(verifier, jwks_server, key):
    assert reject_code(verifier, sign(key, "nope")) == "unknown_kid"


def test_expired_by_exp(verifier, key, clock):
    clock.now = NOW + 300 + 31
    assert reject_code(verifier, sign(key, "k1")) == "expired"


def test_expired_by_max_age_without_exp(verifier, key, clock):
    # doc §11.1 allows "iat + your own window" instead of exp.
    token = sign(key, "k1", exp=None)
    assert verifier.verify(token, BODY)
    clock.now = NOW + 300 + 31
    assert reject_code(verifier, token) == "expired"


def test_long_exp_is_capped_by_max_age(verifier, key, clock):
    token = sign(key, "k1", exp=int(NOW) + 86400)
    clock.now = NOW + 3600
    assert reject_code(verifier, token) == "expired"


def test_issued_in_the_future(verifier, key):
    assert reject_code(verifier, sign(key, "k1", iat=int(NOW) + 120)) == "not_yet_valid"


@pytest.mark.parametrize(
    "claims",
    [{"iat": None}, {"iat": "soon"}, {"exp": "later"}, {"iat": True}, {"iat": "nan"}],
)
def test_bad_time_claims_are_malformed(verifier, key, claims):
    assert reject_code(verifier, sign(key, "k1", **claims)) == "malformed"


@pytest.mark.parametrize("aud", ["https://evil.example.com/webhook", None, 42, []])
def test_wrong_audience(verifier, key, aud):
    token = sign(key, "k1", aud=aud)
    assert reject_code(verifier, token) == "wrong_audience"


def test_tampered_body(verifier, key):
    token = sign(key, "k1")
    tampered = BODY.replace(b"PR1", b"PR2")
    assert reject_code(verifier, token, tampered) == "body_hash_mismatch"


def test_reserialised_body_does_not_match(verifier, key):
    # The hash is over the raw bytes, not over a re-encoding of the JSON.
    token = sign(key, "k1")
    compact = json.dumps(json.loads(BODY)).encode()
    assert reject_code(verifier, token, compact) == "body_hash_mismatch"


def test_body_without_hash_claim(verifier, key):
    token = sign(key, "k1", request_body_sha256=None)
    assert reject_code(verifier, token) == "body_hash_mismatch"


def test_upper_case_hash_is_accepted(verifier, key):
    token = sign(
        key, "k1", request_body_sha256=hashlib.sha256(BODY).hexdigest().upper()
    )
    assert verifier.verify(token, BODY)


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer ", "Bearer"])
def test_missing_token(verifier, header):
    assert reject_code(verifier, header) in ("missing_token", "malformed")
    if header in (None, "", "   ", "Bearer "):
        assert reject_code(verifier, header) == "missing_token"


@pytest.mark.parametrize("header", ["abc", "a.b.c", "Basic dXNlcjpwYXNz"])
def test_garbage_token_is_malformed(verifier, header):
    assert reject_code(verifier, header) == "malformed"


def test_alg_none_is_rejected(verifier):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"iat": int(NOW), "aud": AUD}
    claims["request_body_sha256"] = hashlib.sha256(BODY).hexdigest()
    token = f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims)}."
    assert reject_code(verifier, token) == "unsupported_algorithm"


def test_hs256_with_public_key_as_secret_is_rejected(verifier, key):
    # Classic algorithm confusion: an HMAC keyed with the public key bytes.
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode(
        {"iat": int(NOW), "aud": AUD},
        hashlib.sha256(pem).digest(),
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    assert reject_code(verifier, token) == "unsupported_algorithm"


def test_token_without_kid(verifier, key):
    token = jwt.encode({"iat": int(NOW), "aud": AUD}, key, algorithm="ES256")
    assert reject_code(verifier, token) == "malformed"


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"type": "payment-request:paid"}', b""]
)
def test_body_that_is_not_a_notification(verifier, key, body):
    assert reject_code(verifier, sign(key, "k1", body=body), body) == "malformed"


# ---------------------------------------------------------------- JWKS cache


def test_jwks_is_cached_for_max_age(verifier, jwks_server, key, clock):
    for _ in range(5):
        verifier.verify(sign(key, "k1"), BODY)
    assert jwks_server.fetches == 1
    clock.now = NOW + 599
    verifier.verify(sign(key, "k1", iat=int(clock.now), exp=None), BODY)
    assert jwks_server.fetches == 1
    clock.now = NOW + 600
    verifier.verify(sign(key, "k1", iat=int(clock.now), exp=None), BODY)
    assert jwks_server.fetches == 2


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache", "max-age=0"])
def test_uncacheable_jwks_is_fetched_every_time(
    verifier, jwks_server, key, cache_control
):
    jwks_server.cache_control = cache_control
    for _ in range(3):
        verifier.verify(sign(key, "k1"), BODY)
    assert jwks_server.fetches == 3


def test_default_cache_seconds_without_header(jwks_server, key, clock):
    jwks_server.cache_control = None
    jwks_server.jwks = {"keys": [public_jwk(key, "k1")]}
    verifier = WebhookVerifier(
        jwks_server.url, AUD, clock=clock, default_cache_seconds=60
    )
    verifier.verify(sign(key, "k1"), BODY)
    clock.now = NOW + 59
    verifier.verify(sign(key, "k1"), BODY)
    assert jwks_server.fetches == 1
    clock.now = NOW + 61
    verifier.verify(sign(key, "k1"), BODY)
    assert jwks_server.fetches == 2


def test_key_rotation_refetches_once(verifier, jwks_server, key, clock):
    verifier.verify(sign(key, "k1"), BODY)
    assert jwks_server.fetches == 1
    # Centrapay rotates: the cached JWKS does not know k2 yet.
    new = new_key()
    jwks_server.jwks = {"keys": [public_jwk(key, "k1"), public_jwk(new, "k2")]}
    clock.now = NOW + 31  # past the minimum refetch interval
    assert verifier.verify(sign(new, "k2", iat=int(clock.now)), BODY)
    assert jwks_server.fetches == 2
    verifier.verify(sign(new, "k2", iat=int(clock.now)), BODY)
    assert jwks_server.fetches == 2


def test_unknown_kid_refetch_is_rate_limited(verifier, jwks_server, key, clock):
    verifier.verify(sign(key, "k1"), BODY)
    clock.now = NOW + 31
    for _ in range(5):
        assert reject_code(verifier, sign(key, "bogus", iat=int(clock.now))) == (
            "unknown_kid"
        )
    assert jwks_server.fetches == 2  # the first load plus one refetch
    clock.now = NOW + 62
    assert reject_code(verifier, sign(key, "bogus", iat=int(clock.now))) == (
        "unknown_kid"
    )
    assert jwks_server.fetches == 3


def test_jwks_unavailable_is_transient(verifier, jwks_server, key):
    jwks_server.status = 503
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(sign(key, "k1"), BODY)
    assert info.value.code == "jwks_unavailable"
    assert info.value.transient
    jwks_server.status = 200
    assert verifier.verify(sign(key, "k1"), BODY)


def test_jwks_unreachable_is_transient(key, clock):
    verifier = WebhookVerifier("http://127.0.0.1:9/jwks.json", AUD, clock=clock)
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(sign(key, "k1"), BODY)
    assert (info.value.code, info.value.transient) == ("jwks_unavailable", True)


def test_unusable_jwks_entries_are_ignored(jwks_server, key, clock):
    good = public_jwk(key, "k1")
    other = public_jwk(new_key(), "k0")
    jwks_server.jwks = {
        "keys": [
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            {**other, "crv": "P-384"},
            {**other, "kid": "hs", "alg": "HS256"},
            {**other, "kid": "enc", "use": "enc"},
            {**other, "kid": "bad", "x": "AAAA"},
            {**other, "kid": None},
            "junk",
            # A private member must not turn the entry into a private key.
            {**good, "d": good["x"]},
        ]
    }
    verifier = WebhookVerifier(jwks_server.url, AUD, clock=clock)
    assert verifier.verify(sign(key, "k1"), BODY)["id"] == "ntf_1"
    assert reject_code(verifier, sign(key, "bad")) == "unknown_kid"


def test_jwk_with_short_coordinates_is_accepted(jwks_server, clock):
    # PyJWT 2.8's to_jwk drops leading zero bytes of x/y; such JWKs must work.
    key = next(
        k
        for k in (new_key() for _ in range(5000))
        if k.public_key().public_numbers().x < 1 << 248
    )
    jwk = public_jwk(key, "k1", coordinate_bytes=0)
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) < 32
    jwks_server.jwks = {"keys": [jwk]}
    verifier = WebhookVerifier(jwks_server.url, AUD, clock=clock)
    assert verifier.verify(sign(key, "k1"), BODY)["id"] == "ntf_1"


def test_error_codes_and_repr(verifier, key):
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(sign(key, "k1"), BODY + b" ")
    assert repr(info.value) == "WebhookVerificationError(code='body_hash_mismatch')"
    assert str(info.value).startswith("Webhook rejected: body_hash_mismatch")
    assert not info.value.transient
    assert AUD in repr(verifier)


# ------------------------------------------------------------ deduplication


def test_duplicate_notification_id_is_detected(verifier, key):
    dedupe = NotificationDeduplicator()
    seen = []
    for _ in range(3):  # Centrapay delivers at least once (doc §11.1)
        notification = verifier.verify(sign(key, "k1"), BODY)
        seen.append(dedupe.is_duplicate(notification["id"]))
    assert seen == [False, True, True]
    assert "ntf_1" in dedupe


def test_deduplicator_is_bounded_and_can_forget():
    dedupe = NotificationDeduplicator(max_size=2)
    assert not dedupe.is_duplicate("a")
    assert not dedupe.is_duplicate("b")
    assert dedupe.is_duplicate("a")  # refreshes "a"
    assert not dedupe.is_duplicate("c")  # evicts "b", the least recent
    assert len(dedupe) == 2
    assert not dedupe.is_duplicate("b")
    dedupe.forget("b")
    assert not dedupe.is_duplicate("b")
    with pytest.raises(ValueError):
        NotificationDeduplicator(max_size=0)


def forged_header(header, key, body=BODY):
    """A token signed by ``key`` whose header PyJWT itself would refuse to encode."""
    claims = {"iat": int(NOW), "aud": AUD}
    claims["request_body_sha256"] = hashlib.sha256(body).hexdigest()
    signing_input = ".".join(
        b64url(json.dumps(part).encode()) for part in (header, claims)
    )
    algorithm = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)
    signature = algorithm.sign(signing_input.encode(), key)
    return f"{signing_input}.{b64url(signature)}"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "kid": 123},
        {"alg": "ES256", "kid": ["k1"]},
        {"alg": "ES256", "kid": "k1", "crit": "x"},
        {"alg": "ES256", "kid": "k1", "crit": ["x"]},
        {"alg": "ES256", "kid": "k1", "crit": []},
    ],
)
def test_a_header_pyjwt_refuses_is_malformed(verifier, key, header):
    assert reject_code(verifier, forged_header(header, key)) == "malformed"

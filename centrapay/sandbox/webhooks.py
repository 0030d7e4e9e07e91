"""Webhook notifications: ES256 signing, JWKS, and at-least-once delivery."""

import base64
import collections
import hashlib
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request

import jwt
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .util import bad_request, iso, uuid_hex

_logger = logging.getLogger(__name__)

JWT_LIFETIME = 300  # exp = iat + 5 min (doc §11.1)
JWKS_MAX_AGE = 300
DEFAULT_CONFIG = {
    "url": None,
    "duplicate": False,
    "reorder": False,
    "maxAttempts": 6,
    "retryBaseSeconds": 0.2,
    "retryMaxSeconds": 30.0,
    "timeoutSeconds": 5.0,
    "reorderWindowSeconds": 0.5,
}


def _b64url(number):
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


class Signer:
    """The sandbox's persisted EC P-256 signing key (the emulated JWKS)."""

    def __init__(self, store):
        with store.mutate() as state:
            if not state["signingKey"]:
                key = ec.generate_private_key(ec.SECP256R1(), default_backend())
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                stamp = time.strftime("%Y%m%d", time.gmtime())
                state["signingKey"] = {
                    "kid": f"{stamp}-sandbox-{uuid_hex()[:9]}",
                    "privatePem": pem.decode(),
                }
                store.touch()
            self.kid = state["signingKey"]["kid"]
            pem = state["signingKey"]["privatePem"].encode()
        self._key = serialization.load_pem_private_key(pem, None, default_backend())

    def jwks(self):
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "x": _b64url(numbers.x),
                    "y": _b64url(numbers.y),
                    "crv": "P-256",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "ES256",
                }
            ]
        }

    def sign(self, body, aud, iat=None, exp=None):
        """Return the ``Authorization`` JWT for a notification body (bytes).

        ``iat``/``exp`` use real time, not the sandbox clock: receivers check
        them against their own wall clock.
        """
        # doc §15.14: integer claims (the docs show strings), bare token in the
        # header (no "Bearer "), hash of the exact body bytes.
        iat = int(time.time()) if iat is None else int(iat)
        claims = {"iat": iat, "exp": iat + JWT_LIFETIME if exp is None else int(exp)}
        claims["aud"] = aud
        if body:
            claims["request_body_sha256"] = hashlib.sha256(body).hexdigest()
        token = jwt.encode(
            claims, self._key, algorithm="ES256", headers={"kid": self.kid}
        )
        # PyJWT < 2 returned bytes; keep the str contract either way.
        return token.decode() if isinstance(token, bytes) else token


class WebhookDispatcher:
    """Delivers notifications from a persisted outbox in a background thread.

    At least once: non-2xx answers and connection errors are retried with
    exponential backoff (``retryBaseSeconds * 2**n``, capped, up to
    ``maxAttempts``). ``duplicate`` sends each delivered notification a second
    time; ``reorder`` holds notifications for ``reorderWindowSeconds`` (or until
    :meth:`flush`) and then releases them newest first.
    """

    def __init__(self, store, signer):
        self.store = store
        self.signer = signer
        # Shares the store lock: enqueue() runs inside engine mutations.
        self._cond = threading.Condition(store.lock)
        self._deliveries = collections.deque(maxlen=1000)
        self._stopping = False
        self._thread = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- configuration ----------------------------------------------------------

    @property
    def config(self):
        return {**DEFAULT_CONFIG, **self.store.state["webhook"]}

    def configure(self, values):
        """Validate and apply a partial config (``url``, ``duplicate``, …)."""
        if not isinstance(values, dict):
            raise bad_request("body must be a JSON object")
        for key, value in values.items():
            if key not in DEFAULT_CONFIG:
                raise bad_request(f"unknown webhook option {key}")
            if key == "url":
                if value is not None and (
                    not isinstance(value, str)
                    or not value.startswith(("http://", "https://"))
                ):
                    raise bad_request("url must be an http(s) URL or null")
            elif key in ("duplicate", "reorder"):
                if not isinstance(value, bool):
                    raise bad_request(f"{key} must be a boolean")
            elif (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or value < 0
            ):
                raise bad_request(f"{key} must be a non-negative number")
        with self._cond:
            self.store.state["webhook"] = {**self.config, **values}
            self.store.touch()
            self.store.save()
            self._cond.notify_all()
        return self.config

    # -- producing --------------------------------------------------------------

    def enqueue(self, type_, activity, delay=0.0):
        """Queue a notification about ``activity`` (caller holds the store lock)."""
        config = self.config
        if not config["url"]:
            _logger.debug("no webhook url configured; %s not sent", type_)
            return
        notification = {
            "id": uuid_hex(),
            "type": type_,
            "data": activity,
            "accountId": activity["merchantAccountId"],
            "test": True,
            "createdAt": iso(self.store.now()),
        }
        now = time.time()
        with self._cond:
            self.store.state["webhookOutbox"].append(
                {
                    "notificationId": notification["id"],
                    "type": type_,
                    "body": json.dumps(notification, separators=(",", ":")),
                    "attempts": 0,
                    "due": now + delay,
                    "held": config["reorder"],
                    "heldSince": now,
                }
            )
            self.store.touch()
            self._cond.notify_all()

    def flush(self):
        """Release notifications held by the reorder mode right away."""
        with self._cond:
            self._release_held()
            self.store.save()
            self._cond.notify_all()

    def deliveries(self):
        return list(self._deliveries)

    def clear_deliveries(self):
        self._deliveries.clear()

    def pending(self):
        with self._cond:
            return len(self.store.state["webhookOutbox"])

    # -- delivery loop ----------------------------------------------------------

    def start(self):
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="centrapay-sandbox-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self):
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=self.config["timeoutSeconds"] + 1)
            self._thread = None

    def _release_held(self):
        outbox = self.store.state["webhookOutbox"]
        held = [item for item in outbox if item["held"]]
        if not held:
            return
        rest = [item for item in outbox if not item["held"]]
        for item in held:
            item["held"] = False
        outbox[:] = held[::-1] + rest
        self.store.touch()

    def _next_due(self):
        """Return ``(item, None)`` for the next due item, or ``(None, wait)``."""
        config = self.config
        outbox = self.store.state["webhookOutbox"]
        if outbox and not config["url"]:
            _logger.info("webhook url removed; dropping %d notifications", len(outbox))
            outbox.clear()
            self.store.touch()
        now = time.time()
        held_since = [item["heldSince"] for item in outbox if item["held"]]
        if held_since and (
            not config["reorder"]
            or now - min(held_since) >= config["reorderWindowSeconds"]
        ):
            self._release_held()
            held_since = []
        waits = [1.0]
        for item in outbox:
            if item["held"]:
                continue
            if item["due"] <= now:
                return item, None
            waits.append(item["due"] - now)
        if held_since:
            waits.append(min(held_since) + config["reorderWindowSeconds"] - now)
        return None, max(0.005, min(waits))

    def _run(self):
        while True:
            with self._cond:
                if self._stopping:
                    return
                item, wait = self._next_due()
                if item is None:
                    self._cond.wait(wait)
                    continue
                config = self.config
            ok = self._deliver_safely(item, config)
            with self.store.mutate() as state:
                outbox = state["webhookOutbox"]
                index = next((i for i, it in enumerate(outbox) if it is item), None)
                if index is None:  # reset while delivering
                    continue
                self.store.touch()
                if ok:
                    del outbox[index]
                else:
                    item["attempts"] += 1
                    if item["attempts"] >= config["maxAttempts"]:
                        del outbox[index]
                        _logger.info(
                            "webhook %s %s dropped after %d attempts",
                            item["type"],
                            item["notificationId"],
                            item["attempts"],
                        )
                    else:
                        backoff = config["retryBaseSeconds"] * 2 ** (
                            item["attempts"] - 1
                        )
                        item["due"] = time.time() + min(
                            backoff, config["retryMaxSeconds"]
                        )
            if ok and config["duplicate"]:
                self._deliver_safely(item, config, duplicate=True)

    def _deliver_safely(self, item, config, duplicate=False):
        try:
            return self._deliver(item, config, duplicate)
        except Exception:  # a bug must not kill the delivery thread
            _logger.exception("webhook delivery crashed")
            return False

    def _deliver(self, item, config, duplicate=False):
        url = config["url"]
        body = item["body"].encode()
        authorization = self.signer.sign(body, aud=url)
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": authorization,
                "User-Agent": "centrapay-sandbox-webhooks",
            },
        )
        status, error = None, None
        try:
            with self._opener.open(request, timeout=config["timeoutSeconds"]) as resp:
                status = resp.status
                resp.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self._deliveries.append(
            {
                "notificationId": item["notificationId"],
                "type": item["type"],
                "url": url,
                "attempt": item["attempts"] + 1,
                "duplicate": duplicate,
                "status": status,
                "ok": ok,
                "error": error,
                "at": iso(time.time()),
                "body": item["body"],
                "authorization": authorization,
            }
        )
        # Failed deliveries are simulated outcomes (a test's receiver answering
        # 500), not sandbox problems: INFO keeps warning-free test logs clean.
        _logger.info("webhook %s %s -> %s", item["type"], url, status or error)
        return ok

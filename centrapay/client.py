"""Client for the Centrapay "next" Payment Requests API (doc §5-§8).

Plain Python on top of ``requests``; no Odoo dependency. Every call sends the
``X-Api-Key`` header, JSON bodies and an explicit ``(connect, read)`` timeout.
Definite answers raise :class:`~centrapay.errors.CentrapayAPIError` subclasses;
anything whose effect is unknown raises
:class:`~centrapay.errors.CentrapayUnknownOutcome` after retrying.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.cookiejar
import json
import logging
import math
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .errors import (
    CentrapayAPIError,
    CentrapayAuthError,
    CentrapayBadRequest,
    CentrapayError,
    CentrapayForbidden,
    CentrapayNotFound,
    CentrapayRateLimited,
    CentrapayUnknownOutcome,
    CentrapayValidationError,
)
from .money import line_items_sum_ok, parse_minor_units, to_minor_units
from .retry import later

__all__ = [
    "DEFAULT_BASE_URL",
    "CentrapayClient",
    "Page",
    "is_our_request",
    "shared_session",
]

DEFAULT_BASE_URL = "https://service.centrapay.com"

# Fields without which a response cannot be acted upon (doc §4, §7.3: "missing
# fields" are an unknown outcome).
_CREATE_REQUIRED = ("id", "status", "url", "shortCode", "value")
_PAYMENT_REQUEST_REQUIRED = ("id", "status", "value")
# The void example has no activity id, so only the type is required.
_ACTIVITY_REQUIRED = ("type",)
_REFUND_REQUIRED = ("type", "value")
_PAGE_REQUIRED = ("items",)
_DECODE_REQUIRED = ("provider",)

_ERROR_CLASSES: dict[int, type[CentrapayAPIError]] = {
    400: CentrapayBadRequest,
    401: CentrapayAuthError,
    403: CentrapayForbidden,
    404: CentrapayNotFound,
}

# Optional create fields: keyword name -> (JSON name, expected type).
_CREATE_OPTIONAL: dict[str, tuple[str, type]] = {
    "conditions_enabled": ("conditionsEnabled", bool),
    "patron_not_present": ("patronNotPresent", bool),
    "partial_allowed": ("partialAllowed", bool),
    "pre_auth": ("preAuth", bool),
    "invoice_ref": ("invoiceRef", str),
    "purchase_order_ref": ("purchaseOrderRef", str),
    "barcode": ("barcode", str),
    "barcode_type": ("barcodeType", str),
    "collection_id": ("collectionId", str),
    "created_by_account_name": ("createdByAccountName", str),
    "redirect_cancel_url": ("redirectCancelUrl", str),
    "redirect_paid_url": ("redirectPaidUrl", str),
    "connection_id": ("connectionId", str),
    "payment_link_id": ("paymentLinkId", str),
}

_LINE_ITEM_KEYS = frozenset(
    {"name", "qty", "price", "sku", "tax", "discount", "productId", "restricted",
     "classification"}
)  # fmt: skip

# Connections one account's shared session keeps open at once (threads of one
# process that call at the same instant); more are opened when needed, then
# closed instead of kept.
SHARED_POOL_SIZE = 32

_INVOICE_REF_MAX = 128  # doc §4
_LOOKUP_MAX_PAGES = 10
_ACTIVITIES_MAX_PAGES = 100


_shared_sessions: dict[tuple[str, str], requests.Session] = {}
_shared_sessions_lock = threading.Lock()


def shared_session(base_url: str, api_key: str) -> requests.Session:
    """This process's pooled HTTP session for one account (base URL and API key).

    Every client of the account made in this process shares it, from any
    thread, so a call reuses an open (TCP, TLS) connection instead of paying
    a new handshake. Only its connection pool is shared: it keeps no cookies.
    A forked child (Odoo's prefork workers) starts with none of the parent's.
    """
    base_url = CentrapayClient._check_base_url(base_url)
    digest = hashlib.sha256(CentrapayClient._check_api_key(api_key).encode())
    key = (base_url, digest.hexdigest())
    with _shared_sessions_lock:
        session = _shared_sessions.get(key)
        if session is None:
            session = requests.Session()
            session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(
                allowed_domains=[]
            ))  # fmt: skip
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=SHARED_POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _shared_sessions[key] = session
    return session


# The pools kept warm (:meth:`CentrapayClient.keep_warm`): how many connections,
# until when (``time.monotonic()``); and how often their connections are checked.
_warming: dict = {}
_warming_lock = threading.Lock()
WARM_CHECK_SECONDS = 1.0
# A connection kept warm is opened again after this long, before a server's
# idle timeout (60 s for our sandbox and for AWS load balancers by default) can
# close it just as a call takes it: that call's outcome would be unknown.
WARM_MAX_AGE_SECONDS = 45.0


def _keep_warm(pool, entry, connect_timeout: float, log: logging.Logger) -> None:
    """The thread of :meth:`CentrapayClient.keep_warm` for one pool. It holds
    no client: a client of Odoo's holds a transaction's environment."""
    failures = 0
    try:
        while time.monotonic() <= entry["until"]:
            count = min(entry["count"], SHARED_POOL_SIZE)
            errors = _warm_up(pool, count, connect_timeout)
            if errors and not failures:
                # Once per outage; the call that needs a connection says its own.
                log.info(
                    "Centrapay: could not open %d connection(s) to %s:%s ahead "
                    "of calls: %s",
                    len(errors),
                    pool.host,
                    pool.port,
                    ", ".join(sorted(set(errors))),
                )
            failures = failures + 1 if errors else 0
            time.sleep(later("read", failures) if failures else WARM_CHECK_SECONDS)
    except urllib3.exceptions.ClosedPoolError:
        pass  # the session was closed: nothing left to keep warm
    finally:
        with _warming_lock:
            if _warming.get(pool) is entry:
                del _warming[pool]


def _idle_and_open(conn) -> bool:
    """Whether an idle pooled connection can carry the next call.

    urllib3 asks whether the socket is readable, which a TLS 1.3 connection
    that never carried a request is: the server's session tickets wait there
    unread. Reading without blocking lets TLS take them in; an idle HTTP
    connection has nothing else to read, so anything else (the end of the
    stream, an answer to no request) means it is done.
    """
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0)
        try:
            sock.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        except OSError:
            return False
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)


def _warm_up(pool, count: int, connect_timeout: float) -> list[str]:
    """Keep ``count`` connections of ``pool`` open for the next calls: open
    those missing, replace the closed and the old. Returns the errors of those
    it could not open.

    A call never finds the pool emptied by the keeper, which would make it
    open a connection of its own (two round trips more): the idle connections
    are looked at where they lie, under the queue's lock (a call waits for the
    look, a few system calls), and one is replaced only once its successor is
    open.
    """
    # A LIFO queue of idle connections and empty slots (None): the last items
    # are those the next calls take; a call holding a connection holds a slot.
    slots = pool.pool
    if slots is None:
        raise urllib3.exceptions.ClosedPoolError(pool, "Pool is closed.")
    now = time.monotonic()
    with slots.mutex:
        in_use = slots.maxsize - len(slots.queue)
        idle = [conn for conn in reversed(slots.queue) if conn is not None][:count]
        stale = []
        for conn in idle:
            if not _idle_and_open(conn):
                stale.append(conn)
            elif getattr(conn, "_centrapay_sock", None) is not conn.sock:
                # First seen: opened by a call.
                conn._centrapay_sock, conn._centrapay_since = conn.sock, now
            elif now - conn._centrapay_since > WARM_MAX_AGE_SECONDS:
                stale.append(conn)
    # What the calls now holding a connection give back is not missing.
    missing = max(0, count - in_use - len(idle))
    fresh, errors = _open_connections(pool, len(stale) + missing, connect_timeout)
    retired = []
    with slots.mutex:
        for conn in fresh:
            old = stale.pop(0) if stale else None
            at = _index_of(slots.queue, old) if old is not None else None
            if at is None:  # missing, or a call took the old one meanwhile
                at = _index_of(slots.queue, None)
            if at is None:
                retired.append(conn)  # every slot holds a connection
                continue
            if slots.queue[at] is not None:
                retired.append(slots.queue[at])
            slots.queue[at] = conn
    for conn in retired:
        conn.close()
    return errors


def _index_of(items: list, wanted) -> int | None:
    """The position of ``wanted`` in ``items`` (identity), the last if several."""
    for at in range(len(items) - 1, -1, -1):
        if items[at] is wanted:
            return at
    return None


def _open_connections(pool, number: int, connect_timeout: float):
    """Open ``number`` new connections of ``pool`` at once, outside it:
    (those open, the errors of the others)."""
    opened, errors = [], []

    def open_one():
        conn = pool._new_conn()
        try:
            conn.timeout = connect_timeout
            conn.connect()
        except Exception as exc:  # noqa: BLE001 (counted, said once by the keeper)
            # Whatever failed (a certificate for another name is a ValueError):
            # a call opens and checks its own, and says what fails.
            errors.append(type(exc).__name__)
            conn.close()
            return
        conn._centrapay_sock, conn._centrapay_since = conn.sock, time.monotonic()
        opened.append(conn)

    threads = [threading.Thread(target=open_one) for _ in range(number)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return opened, errors


def _forget_shared_sessions() -> None:
    # The parent's sockets are not the child's to use.
    global _shared_sessions_lock, _warming_lock
    _shared_sessions.clear()
    _shared_sessions_lock = threading.Lock()
    _warming.clear()
    _warming_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_shared_sessions)


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint; ``next_page_key`` is None on the last page."""

    items: list[dict]
    next_page_key: str | None


class _Secret:
    """Holds the API key so that it never shows up in ``repr()`` or ``vars()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _nonempty_str(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CentrapayValidationError(
            field, "required", f"{field} must be a non-empty string"
        )
    return value


def _path_segment(field: str, value: Any) -> str:
    _nonempty_str(field, value)
    # "." and ".." survive quoting and would be resolved as dot-segments.
    if value in (".", ".."):
        raise CentrapayValidationError(field, "invalid", f"{field} is invalid")
    return quote(value, safe="")


def _minor_str(field: str, value: Any) -> str:
    """A minor-unit integer (e.g. a line item price) as a string; may be ≤ 0."""
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise CentrapayValidationError(
                field, "invalid_amount", f"{field} must be a whole number of cents"
            )
        return str(int(value))
    return str(parse_minor_units(value, field=field))


def _number_str(field: str, value: Any) -> str:
    """A bignumber (qty, tax rate) as a plain decimal string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise CentrapayValidationError(
            field, "invalid_number", f"{field} must be a Decimal, int or str"
        )
    try:
        number = Decimal(value)
    except ArithmeticError:
        number = None
    if number is None or not number.is_finite():
        raise CentrapayValidationError(
            field, "invalid_number", f"{field} is not a number"
        )
    return value.strip() if isinstance(value, str) else format(number, "f")


def _normalize_line_items(line_items: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Validate line items (doc §10.1) and render numbers as strings."""
    if isinstance(line_items, str | bytes | Mapping):
        raise CentrapayValidationError(
            "line_items", "invalid", "line_items must be a list of mappings"
        )
    result = []
    for index, item in enumerate(line_items):
        where = f"line_items[{index}]"
        if not isinstance(item, Mapping):
            raise CentrapayValidationError(
                where, "invalid", f"{where} must be a mapping"
            )
        unknown = set(item) - _LINE_ITEM_KEYS
        if unknown:
            raise CentrapayValidationError(
                where, "unknown_field", f"{where} has unknown keys: {sorted(unknown)}"
            )
        for required in ("name", "qty", "price"):
            if item.get(required) is None:
                raise CentrapayValidationError(
                    where, "required", f"{where} lacks {required}"
                )
        out = dict(item)
        out["name"] = _nonempty_str(f"{where}.name", item["name"])
        out["qty"] = _number_str(f"{where}.qty", item["qty"])
        out["price"] = _minor_str(f"{where}.price", item["price"])
        if item.get("discount") is not None:
            out["discount"] = _minor_str(f"{where}.discount", item["discount"])
        if item.get("tax") is not None:
            out["tax"] = _number_str(f"{where}.tax", item["tax"])
        for key in ("sku", "productId"):
            if item.get(key) is not None:
                out[key] = _nonempty_str(f"{where}.{key}", item[key])
        result.append({k: v for k, v in out.items() if v is not None})
    return result


def _checked_line_items(
    line_items: Iterable[Mapping[str, Any]], *totals: str
) -> list[dict]:
    """Normalized line items whose prices sum to one of ``totals``."""
    items = _normalize_line_items(line_items)
    # doc §10.1: a mismatch is a certain 400 LINE_ITEMS_SUM_CHECK_FAILED.
    if not any(line_items_sum_ok(items, total) for total in totals):
        raise CentrapayValidationError(
            "line_items",
            "line_items_sum",
            f"line item prices do not sum to {' or '.join(totals)}",
        )
    return items


def _check_invoice_ref(value: Any) -> str:
    _nonempty_str("invoice_ref", value)
    if len(value) > _INVOICE_REF_MAX:
        raise CentrapayValidationError(
            "invoice_ref", "too_long", f"invoice_ref exceeds {_INVOICE_REF_MAX} chars"
        )
    return value


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _has_field(payload: Mapping[str, Any], field: str) -> bool:
    value = payload.get(field)
    if field == "value":
        return (
            isinstance(value, Mapping)
            and isinstance(value.get("amount"), str | int)
            and isinstance(value.get("currency"), str)
        )
    return value is not None and value != ""


def is_our_request(
    item: Mapping[str, Any], external_ref: str, value: Mapping[str, str]
) -> bool:
    """Whether a Payment Request listed by externalRef (E4) is the one we created.

    Ours only with our ``external_ref``, amount and currency: ``value`` is the
    create's ``{"amount": minor units, "currency": code}``.
    """
    if not isinstance(item.get("id"), str) or not item["id"]:
        return False
    # Summaries may omit externalRef; the endpoint already filtered on it.
    if item.get("externalRef", external_ref) != external_ref:
        return False
    item_value = item.get("value")
    if not isinstance(item_value, Mapping):
        return False
    try:
        amount = parse_minor_units(item_value.get("amount"))
    except CentrapayValidationError:
        return False
    return (
        amount == int(value["amount"])
        and item_value.get("currency") == value["currency"]
    )


class CentrapayClient:
    """Centrapay Payment Requests API client.

    ``sleep`` is injectable so tests do not wait; ``session`` may be a shared
    :class:`requests.Session` (it is then not closed by :meth:`close`).
    ``max_retry_after`` bounds how long a 429 ``Retry-After`` is waited for
    inside one call; a longer wait raises :class:`CentrapayRateLimited` at once.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        before_attempt: Callable[[], None] | None = None,
        on_rate_limited: Callable[[float | None], None] | None = None,
    ) -> None:
        self.base_url = self._check_base_url(base_url)
        self._api_key = _Secret(self._check_api_key(api_key))
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("read_timeout", read_timeout),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value <= 0
            ):
                raise CentrapayValidationError(
                    name, "invalid", f"{name} must be a positive number"
                )
        if (
            isinstance(max_retries, bool)
            or not isinstance(max_retries, int)
            or (max_retries < 0)
        ):
            raise CentrapayValidationError(
                "max_retries", "invalid", "max_retries must be an int >= 0"
            )
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._log = logger or logging.getLogger(__name__)
        # Rate budget hooks: ``before_attempt`` runs before every HTTP attempt
        # (retries, lookups and pages included) and may raise
        # CentrapayBudgetExhausted; ``on_rate_limited`` hears every 429.
        self._before_attempt = before_attempt
        self._on_rate_limited = on_rate_limited

    @staticmethod
    def _check_base_url(base_url: Any) -> str:
        _nonempty_str("base_url", base_url)
        parts = urlsplit(base_url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username
            or parts.query
            or parts.fragment
        ):
            raise CentrapayValidationError(
                "base_url", "invalid", "base_url must be an http(s) URL without query"
            )
        return base_url.rstrip("/")

    @staticmethod
    def _check_api_key(api_key: Any) -> str:
        # Never echo the key: the messages below must stay generic.
        if not isinstance(api_key, str) or not api_key:
            raise CentrapayValidationError("api_key", "required", "api_key is required")
        if not (api_key.isascii() and api_key.isprintable()) or any(
            c.isspace() for c in api_key
        ):
            # requests would otherwise raise InvalidHeader quoting the value.
            raise CentrapayValidationError(
                "api_key", "invalid", "api_key contains invalid characters"
            )
        return api_key

    def __repr__(self) -> str:
        return f"CentrapayClient(base_url={self.base_url!r}, api_key='***')"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP

    def keep_warm(self, count: int, seconds: float, at_least: bool = False) -> None:
        """Keep ``count`` connections (TCP, then TLS) to Centrapay open in this
        client's pool for the next ``seconds``, so that a create finds one.

        No HTTP request is sent, so Centrapay counts no call. A create that
        finds an open connection pays one round trip instead of three. A
        connection the server closes while idle (it reads as EOF) is opened
        again within ``WARM_CHECK_SECONDS``, and one open for
        ``WARM_MAX_AGE_SECONDS``, before the server's idle timeout. One thread
        per pool does it, backing off as the retry policy says while Centrapay
        cannot be reached; a later call renews the time and sets the count
        (``at_least``: raises it, never lowers it nor shortens the time).
        """
        pool = self._connection_pool()
        if pool is None:
            return
        now = time.monotonic()
        until = now + seconds
        with _warming_lock:
            entry = _warming.get(pool)
            # An entry whose time is up may be its thread's last look: a new
            # one, with a thread of its own, or this renewal could be lost.
            if entry is not None and entry["until"] >= now:
                if at_least:
                    count = max(count, entry["count"])
                    until = max(until, entry["until"])
                entry.update(count=count, until=until)
                return
            entry = _warming[pool] = {"count": count, "until": until}
        threading.Thread(
            target=_keep_warm,
            args=(pool, entry, self.timeout[0], self._log),
            name="centrapay-warm",
            daemon=True,
        ).start()

    def _connection_pool(self):
        """The urllib3 pool this client's calls use, or None through a proxy
        (its connections go to the proxy, not to Centrapay)."""
        settings = self._session.merge_environment_settings(
            self.base_url, {}, None, None, None
        )
        if requests.utils.select_proxy(self.base_url, settings["proxies"]):
            return None
        adapter = self._session.get_adapter(self.base_url)
        # requests >= 2.32 picks the pool by TLS context; older ones by URL.
        if hasattr(adapter, "get_connection_with_tls_context"):
            return adapter.get_connection_with_tls_context(
                requests.Request("GET", self.base_url).prepare(),
                settings["verify"],
                None,
                settings["cert"],
            )
        pool = adapter.get_connection(self.base_url)
        # As a call does before it sends: the certificates its TLS checks.
        adapter.cert_verify(pool, self.base_url, settings["verify"], settings["cert"])
        return pool

    def _scrub(self, text: str, limit: int = 300) -> str:
        text = text.replace(self._api_key.reveal(), "***")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _leaks_key(self, exc: BaseException) -> bool:
        key = self._api_key.reveal()
        return key in str(exc) or key in repr(exc)

    def _backoff(self, attempt: int) -> float:
        return self.backoff * (2 ** (attempt - 1))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        required: tuple[str, ...] = (),
    ) -> dict:
        """Send one API call, retrying what is safe to retry (doc §3.4, §7.3).

        Unknown outcomes are retried only when ``idempotent``; a 429 is a
        definite refusal, so it is retried for every call.
        """
        limit = 1 + self.max_retries
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(method, path, params, body, required, attempt)
            except CentrapayRateLimited as exc:
                if self._on_rate_limited is not None:
                    self._on_rate_limited(exc.retry_after)
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else self._backoff(attempt)
                )
                if attempt >= limit or delay > self.max_retry_after:
                    raise
                what = f"rate limited (Retry-After {exc.retry_after})"
            except CentrapayUnknownOutcome as exc:
                if not idempotent or attempt >= limit:
                    raise
                delay = self._backoff(attempt)
                what = exc.kind
            self._log.warning(
                "Centrapay %s %s: %s; retry %d/%d in %.2fs",
                method, path, what, attempt, limit - 1, delay,
            )  # fmt: skip
            self._sleep(delay)

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        required: tuple[str, ...],
        attempt: int,
    ) -> dict:
        headers = {"X-Api-Key": self._api_key.reveal(), "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode()

        def unknown(kind: str, detail: str, status: int | None = None):
            return CentrapayUnknownOutcome(
                kind, detail, http_status=status, method=method, path=path,
                attempts=attempt,
            )  # fmt: skip

        if self._before_attempt is not None:
            self._before_attempt()
        started = time.monotonic()
        leaked: CentrapayUnknownOutcome | None = None
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                # A redirect would re-send X-Api-Key (requests only strips
                # Authorization on redirect) and may turn a POST into a GET.
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection"
            err = unknown(kind, self._scrub(f"{type(exc).__name__}: {exc}"))
            if not self._leaks_key(exc):
                raise err from exc
            leaked = err
        if leaked is not None:
            # Raised outside the except block so that the original exception,
            # whose text holds the key, is not even kept as __context__.
            raise leaked
        status = response.status_code
        self._log.debug(
            "Centrapay %s %s -> HTTP %s in %.0f ms",
            method, path, status, (time.monotonic() - started) * 1000,
        )  # fmt: skip

        if 200 <= status < 300:
            payload = self._json_object(response)
            if payload is None:
                raise unknown("malformed", "response body is not a JSON object", status)
            missing = [f for f in required if not _has_field(payload, f)]
            if missing:
                raise unknown(
                    "incomplete", f"response lacks {', '.join(missing)}", status
                )
            return payload
        if status == 429:
            envelope = self._json_object(response) or {}
            reason = envelope.get("reason")
            raise CentrapayRateLimited(
                _parse_retry_after(response.headers.get("Retry-After")),
                reason=reason if isinstance(reason, str) else None,
                method=method,
                path=path,
                attempts=attempt,
            )
        if status >= 500:
            raise unknown("server_error", f"HTTP {status}", status)
        if 400 <= status < 500:
            envelope = self._json_object(response)
            code = envelope.get("message") if envelope else None
            if not isinstance(code, str) or not code:
                # Not Centrapay's envelope (e.g. a proxy's HTML page): we cannot
                # tell what happened upstream.
                raise unknown(
                    "malformed", f"HTTP {status} without a Centrapay error body", status
                )
            reason = envelope.get("reason")
            cls = _ERROR_CLASSES.get(status, CentrapayAPIError)
            raise cls(
                status,
                code,
                reason if isinstance(reason, str) else None,
                method=method,
                path=path,
                attempts=attempt,
            )
        raise unknown("unexpected_status", f"HTTP {status}", status)

    @staticmethod
    def _json_object(response: requests.Response) -> dict | None:
        try:
            payload = json.loads(response.content, parse_float=Decimal)
        except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
            return None
        return payload if isinstance(payload, dict) else None

    def _page(self, path: str, params: dict[str, str], page_key: str | None) -> Page:
        if page_key is not None:
            params["pageKey"] = _nonempty_str("page_key", page_key)
        payload = self._request("GET", path, params=params, required=_PAGE_REQUIRED)
        items = payload["items"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise CentrapayUnknownOutcome(
                "malformed", "items is not a list of objects", method="GET", path=path
            )
        # doc §3.6: the key is "nextPageKey", but E4's example uses "pageKey".
        next_key = payload.get("nextPageKey") or payload.get("pageKey")
        if not isinstance(next_key, str) or not next_key or next_key == page_key:
            next_key = None
        return Page(items, next_key)

    def _iter_pages(
        self, fetch: Callable[[str | None], Page], max_pages: int | None
    ) -> Iterator[dict]:
        page_key: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            page = fetch(page_key)
            pages += 1
            yield from page.items
            page_key = page.next_page_key
            if page_key is None or page_key in seen:
                return
            if max_pages is not None and pages >= max_pages:
                return
            seen.add(page_key)

    # ------------------------------------------------------- Payment Requests

    def create_payment_request(
        self,
        *,
        config_id: str,
        amount: Decimal,
        currency: str,
        external_ref: str,
        terminal_id: str | None = None,
        device_id: str | None = None,
        operator_id: str | None = None,
        line_items: Iterable[Mapping[str, Any]] | None = None,
        expiry_seconds: int | None = None,
        merchant_account_id: str | None = None,
        **optional_fields: Any,
    ) -> dict:
        """Create a Payment Request (E1) and return it.

        ``amount`` is in major units (``Decimal("12.50")``); line item prices
        are in minor units. ``optional_fields`` takes snake_case names of the
        other create fields (``conditions_enabled``, ``patron_not_present``,
        ``partial_allowed``, ``basket_amount`` (a Decimal), ``invoice_ref``…).

        The create is never re-sent blindly (doc §3.7): if its outcome is
        unknown, the request is looked up by ``external_ref`` (this needs
        ``merchant_account_id``) and returned if found; only when it is
        definitely absent is it created once more with the same ``external_ref``.
        Raises :class:`CentrapayUnknownOutcome` with ``external_ref`` when that
        cannot be settled.
        """
        body = self._create_body(
            config_id=config_id,
            amount=amount,
            currency=currency,
            external_ref=external_ref,
            terminal_id=terminal_id,
            device_id=device_id,
            operator_id=operator_id,
            line_items=line_items,
            expiry_seconds=expiry_seconds,
            optional_fields=optional_fields,
        )
        if merchant_account_id is not None:
            _nonempty_str("merchant_account_id", merchant_account_id)
        path = "/api/payment-requests"
        lost: CentrapayUnknownOutcome | None = None
        for round_no in (1, 2):  # the original create plus one safe re-create
            try:
                return self._request(
                    "POST", path, body=body, idempotent=False, required=_CREATE_REQUIRED
                )
            except CentrapayUnknownOutcome as exc:
                lost = exc
            if merchant_account_id is None:
                raise CentrapayUnknownOutcome(
                    lost.kind,
                    f"{lost.detail}; no merchant_account_id to look the request up",
                    http_status=lost.http_status, method="POST", path=path,
                    attempts=round_no, external_ref=external_ref,
                ) from lost  # fmt: skip
            self._log.warning(
                "Centrapay create outcome unknown (%s); looking up externalRef %s",
                lost.kind, external_ref,
            )  # fmt: skip
            self._sleep(self._backoff(round_no))
            found = self._recover_created(
                external_ref, merchant_account_id, body["value"], lost, round_no
            )
            if found is not None:
                self._log.info(
                    "Centrapay create recovered by externalRef %s: %s",
                    external_ref, found.get("id"),
                )  # fmt: skip
                return found
        assert lost is not None
        raise CentrapayUnknownOutcome(
            lost.kind,
            f"{lost.detail}; the request was not found by externalRef",
            http_status=lost.http_status, method="POST", path=path, attempts=2,
            external_ref=external_ref,
        ) from lost  # fmt: skip

    def _recover_created(
        self,
        external_ref: str,
        merchant_account_id: str,
        value: Mapping[str, str],
        lost: CentrapayUnknownOutcome,
        round_no: int,
    ) -> dict | None:
        """Find the request a lost create made; None if definitely absent."""
        payment_request_id = None
        try:
            matches = [
                item
                for item in self.iter_payment_requests_by_external_ref(
                    external_ref, merchant_account_id, max_pages=_LOOKUP_MAX_PAGES
                )
                if is_our_request(item, external_ref, value)
            ]
            if not matches:
                return None
            # ISO-8601 timestamps in one format sort chronologically.
            newest = max(matches, key=lambda item: str(item.get("createdAt", "")))
            payment_request_id = newest["id"]
            # List items are summaries (no shortCode): return the full model.
            return self.get_payment_request(payment_request_id)
        except CentrapayError as exc:
            raise CentrapayUnknownOutcome(
                lost.kind,
                f"{lost.detail}; lookup by externalRef failed: {exc}",
                http_status=lost.http_status, method="POST",
                path="/api/payment-requests", attempts=round_no,
                external_ref=external_ref, payment_request_id=payment_request_id,
            ) from exc  # fmt: skip

    def _create_body(
        self,
        *,
        config_id: Any,
        amount: Any,
        currency: Any,
        external_ref: Any,
        terminal_id: Any,
        device_id: Any,
        operator_id: Any,
        line_items: Any,
        expiry_seconds: Any,
        optional_fields: dict[str, Any],
    ) -> dict:
        unknown = set(optional_fields) - set(_CREATE_OPTIONAL) - {"basket_amount"}
        if unknown:
            raise TypeError(
                f"create_payment_request() got unexpected fields: {sorted(unknown)}"
            )
        body: dict[str, Any] = {
            "configId": _nonempty_str("config_id", config_id),
            "value": {"amount": to_minor_units(amount, currency), "currency": currency},
            "externalRef": _nonempty_str("external_ref", external_ref),
        }
        for name, key, value in (
            ("terminal_id", "terminalId", terminal_id),
            ("device_id", "deviceId", device_id),
            ("operator_id", "operatorId", operator_id),
        ):
            if value is not None:
                body[key] = _nonempty_str(name, value)
        if expiry_seconds is not None:
            # doc §3.2, §4.5: an integer; min/max undocumented, so only > 0.
            if (
                isinstance(expiry_seconds, bool)
                or not isinstance(expiry_seconds, int)
                or expiry_seconds <= 0
            ):
                raise CentrapayValidationError(
                    "expiry_seconds", "invalid", "expiry_seconds must be an int > 0"
                )
            body["expirySeconds"] = expiry_seconds
        for name, value in optional_fields.items():
            if value is None or name == "basket_amount":
                continue
            key, kind = _CREATE_OPTIONAL[name]
            if not isinstance(value, kind):
                raise CentrapayValidationError(
                    name, "invalid", f"{name} must be a {kind.__name__}"
                )
            if kind is str:
                _nonempty_str(name, value)
            body[key] = value
        if "invoiceRef" in body:
            _check_invoice_ref(body["invoiceRef"])
        basket = optional_fields.get("basket_amount")
        if basket is not None:
            body["basketAmount"] = to_minor_units(
                basket, currency, field="basket_amount"
            )
            if int(body["basketAmount"]) < int(body["value"]["amount"]):
                raise CentrapayValidationError(
                    "basket_amount", "invalid", "basket_amount is less than amount"
                )
        if body.get("partialAllowed") and "basketAmount" not in body:
            # doc §10.3: basketAmount is required with partialAllowed.
            raise CentrapayValidationError(
                "basket_amount", "required", "basket_amount is required for partial"
            )
        if line_items is not None:
            # doc §10.1: the lines sum to value.amount, or with partial
            # payments possibly to basketAmount instead.
            totals = [body["value"]["amount"]]
            if body.get("partialAllowed"):
                totals.append(body["basketAmount"])
            body["lineItems"] = _checked_line_items(line_items, *totals)
        return body

    def get_payment_request(self, payment_request_id: str) -> dict:
        """Get (poll) a Payment Request by id (E2)."""
        segment = _path_segment("payment_request_id", payment_request_id)
        return self._request(
            "GET",
            f"/api/payment-requests/{segment}",
            required=_PAYMENT_REQUEST_REQUIRED,
        )

    def decode_scanned_code(self, code: str, merchant_config_id: str) -> dict:
        """Decode a code scanned at the till for a merchant config (E17).

        Read-only. Returns the body with ``provider`` (``centrapay``,
        ``farmlands``, ``paypal``, ``venmo``) and ``displayName``. Raises
        CentrapayForbidden ``UNKNOWN_CODE`` for a code Centrapay does not know,
        ``MERCHANT_CONFIG_NOT_FOUND`` for a config it does not know,
        ``INVALID_MERCHANT_CONFIG`` when the config cannot take the code;
        CentrapayBadRequest ``CHECKSUM_FAILED`` for a failed Luhn check.
        """
        body = {
            "code": _nonempty_str("code", code),
            "scannedBy": "merchant",
            "merchantConfigId": _nonempty_str("merchant_config_id", merchant_config_id),
        }
        return self._request(
            "POST", "/api/decode", body=body, required=_DECODE_REQUIRED
        )

    def accept_payment_condition(
        self, payment_request_id: str, condition_id: str | int
    ) -> dict:
        """Accept an ``awaiting-merchant`` condition (E11); returns the
        ``accept-condition`` activity. Read the request again afterwards: the
        payment goes on, and conditions may be added or voided (doc §6.8)."""
        return self._answer_condition(payment_request_id, condition_id, "accept")

    def decline_payment_condition(
        self, payment_request_id: str, condition_id: str | int
    ) -> dict:
        """Decline an ``awaiting-merchant`` condition (E12), which cancels the
        request (``DECLINED_BY_MERCHANT``); returns the ``decline-condition``
        activity. Read the request again afterwards (doc §6.8)."""
        return self._answer_condition(payment_request_id, condition_id, "decline")

    def _answer_condition(
        self, payment_request_id: str, condition_id: Any, answer: str
    ) -> dict:
        segment = _path_segment("payment_request_id", payment_request_id)
        # doc §15.11: ids are numbers in the model, strings in the examples.
        if isinstance(condition_id, int) and not isinstance(condition_id, bool):
            condition_id = str(condition_id)
        condition = _path_segment("condition_id", condition_id)
        # Not retried on an unknown outcome: a repeat of an answer that went
        # through would be refused (CONDITION_ALREADY_SET); the read after it
        # tells what happened.
        return self._request(
            "POST",
            f"/api/payment-requests/{segment}/conditions/{condition}/{answer}",
            idempotent=False,
            required=_ACTIVITY_REQUIRED,
        )

    def get_payment_request_by_short_code(self, short_code: str) -> dict:
        """Get the latest Payment Request with this short code (E3)."""
        segment = _path_segment("short_code", short_code)
        return self._request(
            "GET",
            f"/api/payment-requests/short-code/{segment}",
            required=_PAYMENT_REQUEST_REQUIRED,
        )

    def list_payment_requests_by_external_ref(
        self,
        external_ref: str,
        merchant_account_id: str,
        page_key: str | None = None,
        limit: int | None = None,
    ) -> Page:
        """List Payment Requests by ``externalRef`` (E4); items are summaries."""
        segment = _path_segment("external_ref", external_ref)
        params = {
            "merchantAccountId": _nonempty_str(
                "merchant_account_id", merchant_account_id
            )
        }
        if limit is not None:
            params["paginationLimit"] = str(self._check_limit(limit))
        return self._page(
            f"/api/payment-requests/external-ref/{segment}", params, page_key
        )

    def iter_payment_requests_by_external_ref(
        self,
        external_ref: str,
        merchant_account_id: str,
        *,
        limit: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[dict]:
        """Iterate over every page of :meth:`list_payment_requests_by_external_ref`."""
        return self._iter_pages(
            lambda key: self.list_payment_requests_by_external_ref(
                external_ref, merchant_account_id, page_key=key, limit=limit
            ),
            max_pages,
        )

    def void_payment_request(self, payment_request_id: str) -> dict:
        """Void a Payment Request (E7) and return the resulting activity.

        ``cancellation`` when it was unpaid, ``refund`` when it was paid
        (doc §6.7). Retried on unknown outcomes; always re-GET afterwards.
        """
        segment = _path_segment("payment_request_id", payment_request_id)
        return self._request(
            "POST",
            f"/api/payment-requests/{segment}/void",
            required=_ACTIVITY_REQUIRED,
        )

    def refund_payment_request(
        self,
        payment_request_id: str,
        *,
        amount: Decimal,
        currency: str,
        external_ref: str,
        line_items: Iterable[Mapping[str, Any]] | None = None,
        invoice_ref: str | None = None,
        merchant_config_id: str | None = None,
        confirmation_idempotency_key: str | None = None,
    ) -> dict:
        """Refund all or part of a paid Payment Request (E8); returns the activity.

        ``external_ref`` must be unique per refund of this Payment Request; it
        is the idempotency key, so unknown outcomes are retried with it
        (doc §3.7, §8).
        """
        segment = _path_segment("payment_request_id", payment_request_id)
        body: dict[str, Any] = {
            "value": {"amount": to_minor_units(amount, currency), "currency": currency},
            "externalRef": _nonempty_str("external_ref", external_ref),
        }
        if invoice_ref is not None:
            body["invoiceRef"] = _check_invoice_ref(invoice_ref)
        if merchant_config_id is not None:
            body["merchantConfigId"] = _nonempty_str(
                "merchant_config_id", merchant_config_id
            )
        if confirmation_idempotency_key is not None:
            body["confirmationIdempotencyKey"] = _nonempty_str(
                "confirmation_idempotency_key", confirmation_idempotency_key
            )
        if line_items is not None:
            body["lineItems"] = _checked_line_items(line_items, body["value"]["amount"])
        return self._request(
            "POST",
            f"/api/payment-requests/{segment}/refund",
            body=body,
            required=_REFUND_REQUIRED,
        )

    def pay_payment_request(
        self,
        payment_request_id: str,
        *,
        asset_type: str,
        idempotency_key: str,
        amount: str | int | None = None,
        mode: str | None = None,
        asset_id: str | None = None,
        transaction_id: str | None = None,
        authorization: str | None = None,
        external_payment_ref: str | None = None,
    ) -> dict:
        """Pay a Payment Request (E6); returns the ``payment`` activity.

        Patron-side in the QR flow; a POS uses it to record an external tender
        (``external.main``/``external.test``, checklist 304.3). ``amount`` is in
        the asset's canonical units (cents for NZD assets). ``idempotency_key``
        makes retries of unknown outcomes safe (doc §3.7).
        """
        segment = _path_segment("payment_request_id", payment_request_id)
        body: dict[str, Any] = {
            "assetType": _nonempty_str("asset_type", asset_type),
            "idempotencyKey": _nonempty_str("idempotency_key", idempotency_key),
        }
        if amount is not None:
            if parse_minor_units(amount, field="amount") <= 0:
                raise CentrapayValidationError(
                    "amount", "amount_not_positive", "amount must be positive"
                )
            body["amount"] = str(parse_minor_units(amount))
        for name, key, value in (
            ("mode", "mode", mode),
            ("asset_id", "assetId", asset_id),
            ("transaction_id", "transactionId", transaction_id),
            ("authorization", "authorization", authorization),
            ("external_payment_ref", "externalPaymentRef", external_payment_ref),
        ):
            if value is not None:
                body[key] = _nonempty_str(name, value)
        return self._request(
            "POST",
            f"/api/payment-requests/{segment}/pay",
            body=body,
            required=_ACTIVITY_REQUIRED,
        )

    # ------------------------------------------------------------- Activities

    def list_payment_request_activities(self, payment_request_id: str) -> list[dict]:
        """All activities of one Payment Request, newest first (E9).

        E9 documents no pagination; a page key in the answer is followed anyway.
        """
        segment = _path_segment("payment_request_id", payment_request_id)
        path = f"/api/payment-requests/{segment}/activities"
        return list(
            self._iter_pages(
                lambda key: self._page(path, {}, key), _ACTIVITIES_MAX_PAGES
            )
        )

    def list_payment_activities(
        self,
        merchant_id: str,
        page_key: str | None = None,
        limit: int | None = None,
    ) -> Page:
        """One page of a merchant's activities, newest first (E10)."""
        params = {"merchantId": _nonempty_str("merchant_id", merchant_id)}
        if limit is not None:
            params["paginationLimit"] = str(self._check_limit(limit))
        return self._page("/api/payment-activities", params, page_key)

    # ------------------------------------------------------------ Settlements

    def list_settlements(
        self,
        merchant_id: str,
        page_key: str | None = None,
        limit: int | None = None,
    ) -> Page:
        """One page of a merchant's settlements, newest first (E19, doc §6.13)."""
        segment = _path_segment("merchant_id", merchant_id)
        params = {}
        if limit is not None:
            params["paginationLimit"] = str(self._check_limit(limit))
        return self._page(f"/api/merchants/{segment}/settlements", params, page_key)

    @staticmethod
    def _check_limit(limit: Any) -> int:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise CentrapayValidationError(
                "limit", "invalid", "limit must be an int > 0"
            )
        return limit

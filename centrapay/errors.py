"""Exceptions raised by the Centrapay client.

Every exception carries machine-readable fields; ``str()`` is short English text
that never contains the API key. Callers branch on ``code`` / the class, never
on ``reason`` (doc §3.4); the Odoo layer translates for users.
"""

from __future__ import annotations


class CentrapayError(Exception):
    """Base class of every error raised by this package."""


class CentrapayValidationError(CentrapayError, ValueError):
    """Local input error, raised before any HTTP call is made.

    ``field`` names the offending argument, ``code`` is a stable snake_case code
    (e.g. ``amount_precision``, ``invalid_currency``, ``line_items_sum``).
    """

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(field={self.field!r}, code={self.code!r})"


class CentrapayAPIError(CentrapayError):
    """A definite answer from Centrapay: a 4xx with the Centrapay error envelope.

    ``code`` is the body's ``message`` (the machine code, e.g. ``REQUEST_PAID``);
    ``reason`` is free text for humans and logs only. ``attempts`` > 1 means an
    earlier attempt of the same call had an unknown outcome, so it may already
    have taken effect (e.g. a retried void answering ``ALREADY_REFUNDED``).
    """

    def __init__(
        self,
        http_status: int,
        code: str,
        reason: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.reason = reason
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" on {self.method} {self.path}" if self.method else ""
        text = f"Centrapay answered HTTP {self.http_status} {self.code}{where}"
        return f"{text}: {self.reason}" if self.reason else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(http_status={self.http_status!r}, "
            f"code={self.code!r}, reason={self.reason!r})"
        )


class CentrapayBadRequest(CentrapayAPIError):
    """400: malformed request or validation failure (e.g. ``CHECKSUM_FAILED``)."""


class CentrapayAuthError(CentrapayAPIError):
    """401: API key missing, invalid, disabled or expired."""


class CentrapayForbidden(CentrapayAPIError):
    """403: missing resource / no permission, or a business rule (``code``).

    doc §3.4: the generic forms (``Forbidden``, ``FORBIDDEN``) mean "missing or
    not permitted"; anything else is a documented business code.
    """

    GENERIC_CODES = frozenset({"Forbidden", "FORBIDDEN"})

    @property
    def is_generic(self) -> bool:
        """True for "missing or not permitted" rather than a business code."""
        return self.code in self.GENERIC_CODES


class CentrapayNotFound(CentrapayAPIError):
    """404: unknown route, or (per the OpenAPI) an unknown resource (doc §3.4)."""


class CentrapayRateLimited(CentrapayAPIError):
    """429 ``RATE_LIMIT_EXCEEDED``; ``retry_after`` is in seconds, or None."""

    def __init__(self, retry_after: float | None, **kwargs) -> None:
        self.retry_after = retry_after
        kwargs.setdefault("http_status", 429)
        kwargs.setdefault("code", "RATE_LIMIT_EXCEEDED")
        super().__init__(**kwargs)

    def _describe(self) -> str:
        text = super()._describe()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g}s)"
        return text

    def __repr__(self) -> str:
        return f"CentrapayRateLimited(retry_after={self.retry_after!r})"


class CentrapayBudgetExhausted(CentrapayError):
    """Our own rate budget for the account refused the call: nothing was sent."""

    def __init__(self, retry_in: float | None = None) -> None:
        self.retry_in = retry_in
        super().__init__("the account's request budget is spent for now")


class CentrapayUnknownOutcome(CentrapayError):
    """The outcome of a call is unknown: it may or may not have taken effect.

    Raised for network errors, timeouts, 5xx, redirects and malformed,
    non-JSON, HTML or incomplete bodies, once retries are exhausted. ``kind`` is
    one of :attr:`KINDS`. For a create, ``external_ref`` is set so the caller can
    look the request up later (or void it) — doc §3.7, §7.3 — and
    ``payment_request_id`` when the request was found but could not be read.
    """

    KINDS = frozenset(
        {"timeout", "connection", "server_error", "unexpected_status", "malformed",
         "incomplete"}
    )  # fmt: skip

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        http_status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
        external_ref: str | None = None,
        payment_request_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.detail = detail
        self.http_status = http_status
        self.method = method
        self.path = path
        self.attempts = attempts
        self.external_ref = external_ref
        self.payment_request_id = payment_request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" of {self.method} {self.path}" if self.method else ""
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        text = (
            f"Unknown outcome{where} after {self.attempts} attempt(s): "
            f"{self.kind}{status}: {self.detail}"
        )
        if self.external_ref is not None:
            text += f" [externalRef {self.external_ref}]"
        if self.payment_request_id is not None:
            text += f" [payment request {self.payment_request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"CentrapayUnknownOutcome(kind={self.kind!r}, "
            f"http_status={self.http_status!r}, attempts={self.attempts!r}, "
            f"external_ref={self.external_ref!r})"
        )


class WebhookVerificationError(CentrapayError):
    """A webhook notification failed verification.

    ``code`` is one of :data:`centrapay.webhook.ERROR_CODES`. ``transient`` is
    True when the failure is on our side (JWKS unreachable): answer 5xx so that
    Centrapay redelivers, instead of 401.
    """

    def __init__(self, code: str, detail: str = "", *, transient: bool = False):
        self.code = code
        self.detail = detail
        self.transient = transient
        suffix = f": {detail}" if detail else ""
        super().__init__(f"Webhook rejected: {code}{suffix}")

    def __repr__(self) -> str:
        return f"WebhookVerificationError(code={self.code!r})"

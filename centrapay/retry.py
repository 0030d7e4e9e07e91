"""The one retry policy: for each kind of Centrapay call, how often it is tried,
how long it waits, and when it gives up (doc/architecture.md, Retries).

Plain Python. ``pos.payment.method._centrapay_client(kind)`` builds a client
with its kind's attempts and waits; the rate budget (``centrapay.rate.limit``)
asks the kind whose share a call spends and how long it may wait for a slot;
the status engine asks ``later`` when to try a failed request again, and
``budget_later`` when the account's budget was spent. When a pending request is
voided or given up is ``pending.void_or_give_up``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """How one kind of call is tried.

    ``budget``: whose share of the account's budget it spends: ``cashier`` (up
    to Centrapay's limit), ``urgent`` (the reads with a reason: what a feed or
    webhook pointed at, a read due at once, a request past its expiry),
    ``feed`` (the activity feed, which stops short of them) or ``read``
    (routine direct reads, the elastic part).
    ``attempts``: HTTP attempts within one call; an attempt is retried only when
    that is safe (an idempotent call, or a 429, which is a refusal).
    ``backoff``: seconds before the second attempt, doubled for each next one.
    ``wait``: the longest the call waits, for a budget slot or a 429's
    Retry-After; longer, it fails at once and is left to a later try.
    ``later_max``: after failed calls, the next try is 1, 2, 4 ... s later, at
    most this (0: the call is the cashier's, who tries again). The engine asks
    it for its reads (``later("read", n)``), whose failures a void it makes
    shares, and its steps for ended requests (the ledger, the rest of a
    partly paid request, the give-back of an abandoned one) likewise.
    """

    budget: str
    attempts: int
    backoff: float
    wait: float
    later_max: float


_CASHIER = {"budget": "cashier", "attempts": 3, "backoff": 0.5, "wait": 5.0}

POLICIES = {
    # A create is never re-sent blindly: an unknown outcome is looked up by its
    # externalRef first (the client), and the lookup is retried as a read.
    "create": Policy(**_CASHIER, later_max=0),
    "void": Policy(**_CASHIER, later_max=30),
    "refund": Policy(**_CASHIER, later_max=30),
    # Any other call a cashier or a manager waits for: a read, a code's decode,
    # a condition's answer, a settlements or ledger refresh.
    "cashier": Policy(**_CASHIER, later_max=0),
    # The engine's: it never waits, and tries again at its next pass.
    "read": Policy(budget="read", attempts=1, backoff=0.0, wait=0.0, later_max=30),
    "urgent": Policy(budget="urgent", attempts=1, backoff=0.0, wait=0.0, later_max=30),
    "feed": Policy(budget="feed", attempts=1, backoff=0.0, wait=0.0, later_max=30),
}

# A 429 without Retry-After pauses the account this long.
PAUSE_429_SECONDS = 5.0


def policy(kind: str) -> Policy:
    """The policy of a kind of call (KeyError for an unknown kind)."""
    return POLICIES[kind]


def later(kind: str, failures: int) -> float:
    """Seconds before the next try after ``failures`` failed calls in a row."""
    return min(2 ** max(failures - 1, 0), POLICIES[kind].later_max)


def budget_later(retry_in: float | None) -> float:
    """Seconds before the engine tries a call its account's spent budget
    refused: when a slot frees, between half a second and 5 s."""
    return min(max(retry_in or 1.0, 0.5), 5.0)

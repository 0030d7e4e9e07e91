"""When a Payment Request still pending is voided or given up (doc §7.2, §7.3).

One decision, plain Python: the status engine asks it after each read of a
pending request, and the lost-create recovery after its lookup by externalRef.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

# doc §7.2: the POS gives up 5-10 s after the request's expiry, then voids.
POS_TIMEOUT_GRACE_SECONDS = 7
# Consecutive unknown outcomes before the request is voided (doc §7.3).
MAX_UNKNOWN_ERRORS = 3
# A request still pending this long after its expiry is abandoned (status error).
GIVE_UP_AFTER_SECONDS = 600
# A create whose answer was lost, not listed by its externalRef this long after
# it was made, was never made.
LOST_CREATE_GIVE_UP_SECONDS = 120

# Why a request is voided.
VOID_STATUS_UNKNOWN = "status unknown"
VOID_POS_TIMEOUT = "POS timeout"
VOID_REQUESTED = "void requested"
VOID_LOST_CREATE = "lost create"
# Why one is given up (status error).
GIVE_UP_NEVER_CREATED = "never created"
GIVE_UP_UNREACHABLE = "unreachable"


class Step(NamedTuple):
    """What to do now: void (its reason), then, if still pending, give up (why)."""

    void: str | None = None
    give_up: str | None = None


def void_or_give_up(
    *,
    now: datetime,
    status: str,
    created_at: datetime,
    expires_at: datetime | None = None,
    unknown_errors: int = 0,
    void_requested: bool = False,
    found: bool | None = None,
) -> Step:
    """What to do with a request still pending (``draft`` or ``new``).

    ``found``: after a lost create's lookup by externalRef, whether Centrapay
    listed it (the POS gave up on it: void it); None otherwise.
    """
    if found is not None:
        if found:
            return Step(void=VOID_LOST_CREATE)
        if now > created_at + timedelta(seconds=LOST_CREATE_GIVE_UP_SECONDS):
            return Step(give_up=GIVE_UP_NEVER_CREATED)
        return Step()
    void = None
    if unknown_errors >= MAX_UNKNOWN_ERRORS:
        void = VOID_STATUS_UNKNOWN
    elif expires_at and now >= expires_at + timedelta(
        seconds=POS_TIMEOUT_GRACE_SECONDS
    ):
        void = VOID_POS_TIMEOUT
    elif void_requested and status == "new":
        void = VOID_REQUESTED
    # Centrapay expires every request it knows: one still pending this long
    # after its expiry cannot be read at all.
    started = expires_at or created_at
    give_up = None
    if now >= started + timedelta(seconds=GIVE_UP_AFTER_SECONDS):
        give_up = GIVE_UP_UNREACHABLE
    return Step(void=void, give_up=give_up)


def next_moment(now: datetime, expires_at: datetime | None) -> datetime | None:
    """The next moment after ``now`` at which a pending request must be read
    whatever the engine's pace: its expiry (Centrapay expires it), then the
    POS's timeout (the engine voids it). None when both have passed.
    """
    if not expires_at:
        return None
    for moment in (
        expires_at,
        expires_at + timedelta(seconds=POS_TIMEOUT_GRACE_SECONDS),
    ):
        if moment > now:
            return moment
    return None

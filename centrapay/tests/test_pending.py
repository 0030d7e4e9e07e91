"""When a pending request is voided or given up (centrapay/pending.py)."""

from datetime import datetime, timedelta

import pytest

from centrapay.pending import (
    GIVE_UP_AFTER_SECONDS,
    GIVE_UP_NEVER_CREATED,
    GIVE_UP_UNREACHABLE,
    LOST_CREATE_GIVE_UP_SECONDS,
    MAX_UNKNOWN_ERRORS,
    POS_TIMEOUT_GRACE_SECONDS,
    VOID_LOST_CREATE,
    VOID_POS_TIMEOUT,
    VOID_REQUESTED,
    VOID_STATUS_UNKNOWN,
    Step,
    next_moment,
    void_or_give_up,
)

CREATED = datetime(2025, 1, 1, 12, 0, 0)
EXPIRES = CREATED + timedelta(seconds=120)


def seconds(n):
    return timedelta(seconds=n)


def step(now, **kwargs):
    kwargs.setdefault("status", "new")
    kwargs.setdefault("expires_at", EXPIRES)
    return void_or_give_up(now=now, created_at=CREATED, **kwargs)


def test_a_request_within_its_time_is_left_alone():
    assert step(CREATED + seconds(30)) == Step()


def test_the_pos_timeout_voids_it():
    grace = EXPIRES + seconds(POS_TIMEOUT_GRACE_SECONDS)
    assert step(grace - seconds(1)) == Step()
    assert step(grace) == Step(void=VOID_POS_TIMEOUT)


def test_too_many_unknown_outcomes_void_it_first():
    now = CREATED + seconds(30)
    assert step(now, unknown_errors=MAX_UNKNOWN_ERRORS - 1) == Step()
    assert step(now, unknown_errors=MAX_UNKNOWN_ERRORS) == Step(
        void=VOID_STATUS_UNKNOWN
    )
    late = EXPIRES + seconds(POS_TIMEOUT_GRACE_SECONDS)
    assert step(late, unknown_errors=MAX_UNKNOWN_ERRORS).void == VOID_STATUS_UNKNOWN


def test_a_requested_void_is_made_once_centrapay_has_the_request():
    now = CREATED + seconds(30)
    assert step(now, void_requested=True) == Step(void=VOID_REQUESTED)
    assert step(now, void_requested=True, status="draft") == Step()


@pytest.mark.parametrize("expires_at", [EXPIRES, None])
def test_it_is_given_up_long_after_its_expiry_and_voided_before(expires_at):
    give_up = (expires_at or CREATED) + seconds(GIVE_UP_AFTER_SECONDS)
    assert step(give_up - seconds(1), expires_at=expires_at).give_up is None
    assert step(give_up, expires_at=expires_at) == Step(
        void=VOID_POS_TIMEOUT if expires_at else None, give_up=GIVE_UP_UNREACHABLE
    )


def test_a_lost_create_found_is_voided():
    assert step(CREATED + seconds(1), found=True, status="draft") == Step(
        void=VOID_LOST_CREATE
    )


def test_a_lost_create_not_found_is_given_up_after_a_while():
    limit = CREATED + seconds(LOST_CREATE_GIVE_UP_SECONDS)
    assert step(limit, found=False, status="draft") == Step()
    assert step(limit + seconds(1), found=False, status="draft") == Step(
        give_up=GIVE_UP_NEVER_CREATED
    )


def test_it_is_read_at_its_expiry_then_at_the_pos_timeout():
    timeout = EXPIRES + seconds(POS_TIMEOUT_GRACE_SECONDS)
    assert next_moment(CREATED, EXPIRES) == EXPIRES
    assert next_moment(EXPIRES, EXPIRES) == timeout
    assert next_moment(timeout - seconds(1), EXPIRES) == timeout
    assert next_moment(timeout, EXPIRES) is None
    assert next_moment(CREATED, None) is None

"""The one retry policy (centrapay/retry.py), without Odoo."""

import pytest

from centrapay import retry


def test_every_kind_of_call_has_one_policy():
    assert set(retry.POLICIES) == {
        "create", "void", "refund", "cashier", "read", "urgent", "feed",
    }  # fmt: skip
    for kind, rules in retry.POLICIES.items():
        assert rules.budget in ("cashier", "urgent", "feed", "read"), kind
        assert rules.attempts >= 1, kind
        if rules.budget != "cashier":
            # The engine never waits: it tries again at its next pass.
            assert (rules.attempts, rules.wait) == (1, 0.0), kind


def test_a_failed_call_is_tried_again_later_and_later():
    assert [retry.later("read", n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert retry.later("void", 10) == 30
    # A cashier's call is the cashier's to try again.
    assert retry.later("create", 3) == 0


def test_a_spent_budget_is_tried_again_when_a_slot_frees():
    assert retry.budget_later(None) == 1.0
    assert retry.budget_later(0.1) == 0.5
    assert retry.budget_later(2.5) == 2.5
    assert retry.budget_later(40) == 5.0


def test_an_unknown_kind_is_refused():
    with pytest.raises(KeyError):
        retry.policy("poll")

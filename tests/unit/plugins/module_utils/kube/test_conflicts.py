"""retry_on_conflict: client-go's RetryOnConflict, the one read-modify-write loop."""
import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.conflicts import (
    ConflictsExhausted,
    retry_on_conflict,
)


def conflict():
    return ApiError(409, reason="Conflict", message="the object has been modified", resource="nodes", name="n1")


def test_returns_what_the_attempt_returns_after_conflicts():
    calls = []
    naps = []

    def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise conflict()
        return "written"

    assert retry_on_conflict(attempt, 'node "n1"', sleep=naps.append) == "written"
    assert len(calls) == 3 and len(naps) == 2 and all(0.01 <= n <= 0.011 for n in naps)


def test_already_exists_is_retried_too():
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) == 1:
            raise ApiError(409, reason="AlreadyExists", message="created meanwhile")
        return "read theirs"

    assert retry_on_conflict(attempt, "x", sleep=lambda s: None) == "read theirs"


def test_gives_up_after_the_attempts_with_a_sentence():
    calls = []

    def attempt():
        calls.append(1)
        raise conflict()

    with pytest.raises(ConflictsExhausted) as info:
        retry_on_conflict(attempt, 'node "n1"', doing="patched", attempts=4, sleep=lambda s: None)
    assert len(calls) == 4
    assert info.value.status == 409
    assert 'node "n1" kept changing while being patched; gave up after 4 attempts' in str(info.value)


@pytest.mark.parametrize("error", [ApiError(404, reason="NotFound"), ApiError(500, reason="InternalError"),
                                   ValueError("a bug")])
def test_other_errors_propagate_at_once(error):
    calls = []

    def attempt():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        retry_on_conflict(attempt, "x", sleep=lambda s: None)
    assert len(calls) == 1


def test_a_lost_answer_is_settled_by_reading_again():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import WriteOutcomeUnknown
    outcomes = [WriteOutcomeUnknown("the answer to PATCH was lost"), {"changed": False}]

    def attempt():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = retry_on_conflict(attempt, "x", sleep=lambda s: None,
                               after_lost_answer=lambda r: dict(r, changed=True, settled=True))
    assert result == {"changed": True, "settled": True}


def test_a_lost_answer_without_a_way_to_settle_it_is_raised():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import WriteOutcomeUnknown
    calls = []

    def attempt():
        calls.append(1)
        raise WriteOutcomeUnknown("the answer to POST was lost")

    with pytest.raises(WriteOutcomeUnknown):
        retry_on_conflict(attempt, "x", sleep=lambda s: None)
    assert len(calls) == 1
    with pytest.raises(WriteOutcomeUnknown):
        retry_on_conflict(attempt, "x", attempts=3, sleep=lambda s: None, after_lost_answer=lambda r: r)
    assert len(calls) == 4

"""The one retry policy: it tries again only what it is told to, and says how much time is left."""

from __future__ import annotations

import pytest

from ultra_env import http
from ultra_env.llm.providers.base import ProviderError

NOW = http.Retry(attempts=4, backoff=lambda n: 0.0)


def failing(*errors: Exception) -> tuple[list[float], object]:
    """An attempt that raises ``errors`` one per try, then answers "done"; the time left each try."""
    seen: list[float] = []
    queue = list(errors)

    def attempt(left: float) -> str:
        seen.append(left)
        if queue:
            raise queue.pop(0)
        return "done"

    return seen, attempt


not_yet = http.raised(http.NotYet)


# (errors raised in turn, what is retried) -> tries made, and the error that goes up (None: "done")
CASES = [
    ([], not_yet, 1, None),
    ([http.NotYet("starting")], not_yet, 2, None),
    ([http.NotYet("a"), http.NotYet("b"), http.NotYet("c")], not_yet, 4, None),
    ([http.NotYet("a")] * 4, not_yet, 4, http.NotYet),  # out of tries: the last error goes up
    ([KeyError("a bug")], not_yet, 1, KeyError),  # a bug is never retried
    ([http.NotYet("a"), TypeError("a bug")], not_yet, 2, TypeError),
    ([http.HttpError("refused")], not_yet, 1, http.HttpError),  # not told to: up at once
    ([http.HttpError("refused")], http.raised(http.HttpError), 2, None),
    ([http.HttpError("refused"), http.NotYet("a")], http.raised(http.NotYet, http.HttpError), 3, None),
    ([ProviderError("p", "auth", "bad key")], lambda e: isinstance(e, ProviderError) and e.transient, 1, ProviderError),
    ([ProviderError("p", "server", "busy")], lambda e: isinstance(e, ProviderError) and e.transient, 2, None),
]


@pytest.mark.parametrize(("errors", "retry_if", "tries", "raised"), CASES)
def test_retries_only_what_it_is_told(errors, retry_if, tries, raised) -> None:
    seen, attempt = failing(*errors)
    if raised is None:
        assert NOW.run(attempt, retry_if=retry_if) == "done"
    else:
        with pytest.raises(raised):
            NOW.run(attempt, retry_if=retry_if)
    assert len(seen) == tries


def test_each_try_is_told_the_time_left_and_a_hint_replaces_the_backoff() -> None:
    seen, attempt = failing(http.NotYet("a"), http.NotYet("b"))
    waits: list[float] = []
    policy = http.Retry(within_s=30, backoff=lambda n: 99.0)  # a backoff past the deadline would end it
    assert policy.run(attempt, retry_if=not_yet, wait_hint=lambda e: waits.append(0.0) or 0.0) == "done"
    assert waits == [0.0, 0.0] and len(seen) == 3
    assert 0 < seen[-1] <= seen[0] <= 30


def test_a_wait_past_the_deadline_ends_the_retries() -> None:
    seen, attempt = failing(http.NotYet("a"), http.NotYet("b"))
    with pytest.raises(http.NotYet):
        http.Retry(within_s=5, backoff=lambda n: 60.0).run(attempt, retry_if=not_yet)
    assert len(seen) == 1

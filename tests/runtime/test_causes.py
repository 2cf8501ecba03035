"""The exceptions behind a transport error: causes, contexts and groups, each once."""

from __future__ import annotations

from broadcaster.runtime.causes import causes


def _raised(exc: BaseException, *, cause: BaseException | None = None, context: BaseException | None = None):
    exc.__cause__, exc.__context__ = cause, context
    return exc


def test_causes_and_contexts_are_followed_nearest_first_with_groups_opened():
    refused = ConnectionRefusedError("127.0.0.1")
    unreachable = OSError("::1")
    group = ExceptionGroup("all attempts failed", [unreachable, refused])
    context = TimeoutError("while cleaning up")
    outer = _raised(RuntimeError("connect"), cause=group, context=context)
    assert causes(outer) == [outer, group, context, unreachable, refused]


def test_a_chain_that_loops_is_walked_once():
    first, second = ValueError("a"), KeyError("b")
    _raised(first, cause=second)
    _raised(second, context=first)
    assert causes(first) == [first, second]

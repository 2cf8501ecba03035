"""The kit's checks of ``interpret_reply``: what hypothesis draws, the fixed hostile
replies, the author's example replies, the success path and auth failures.

Every reply goes through :func:`~broadcaster.testing.case.interpret_checked`: it must not
raise, must become a valid result, must read an unreadable reply honestly and must leave
no secret (nor part of one) in a reason, a message id or a log record.
"""

from __future__ import annotations

import json
from typing import Any, Sequence
from urllib.parse import parse_qsl, urlsplit

import attrs
from hypothesis import given
from hypothesis import strategies as st

from ..core.http import HttpCall, HttpReply
from ..core.outcomes import ErrorKind
from ..core.reasons import ErrorReason
from ..core.results import Delivered, Failed, RateLimited
from ..fake import ProviderFake, Verdict, WireRequest
from ..plugins import ProviderRegistry
from ..provider import ExampleReply
from . import strategies
from .case import MIN_SECRET, ConformanceCase, check_requests, fail, interpret_checked, run_property

__all__ = [
    "check_auth_failures",
    "check_examples",
    "check_hostile_replies",
    "check_replies",
    "check_success_path",
    "hostile_replies",
]


def _secrets_of_calls(case: ConformanceCase, registry: ProviderRegistry, calls: Sequence[HttpCall]) -> tuple[str, ...]:
    spec = registry.spec(case.provider)
    return tuple({*case.secrets(spec), *(s for call in calls for s in call.secrets)})


def check_replies(case: ConformanceCase) -> None:
    calls = check_requests(case)
    registry = case.registry()
    secrets = _secrets_of_calls(case, registry, calls)

    @case.hypothesis_settings()
    @given(call=st.sampled_from(calls), reply=strategies.provider_replies(shapes=case.reply_shapes, secrets=secrets))
    def every_reply_maps_to_a_result(call: HttpCall, reply: Any) -> None:
        interpret_checked(registry, case, call, reply, secrets=secrets, where=f"interpret_reply({reply!r})")

    run_property(every_reply_maps_to_a_result)


def _echoes(secret: str) -> list[str]:
    """Parts of ``secret`` a provider might echo: whole, each side of ``:``, pieces, upper case."""
    parts = [secret, secret.upper(), *(side for side in secret.split(":") if len(side) >= MIN_SECRET)]
    if len(secret) > MIN_SECRET + 2:
        parts += [secret[1:-1], secret[len(secret) // 3 : len(secret) // 3 + MIN_SECRET]]
    return list(dict.fromkeys(parts))


def _wordy_body(text: str) -> bytes:
    # every key that real providers put human words under, so each plugin reads one of them
    error = {"code": 99999, "message": text, "title": text, "error_subcode": 1, "error_data": {"details": text}}
    body = {
        "ok": False,
        "error_code": 400,
        "description": text,
        "error": error,
        "errors": [error],
        "status": 999,
        "status_message": text,
        "message": text,
    }
    return json.dumps(body).encode()


def hostile_replies(secrets: Sequence[str]) -> list[HttpReply]:
    """The replies of issue 10, every one of them: nested brackets, absurd retry hints,
    proxies' pages and provider text echoing parts of a secret, at the statuses that matter."""
    nested = [b"[" * 3000 + b"]" * 3000, b"{" * 3000, b'{"error":' * 2000 + b"1" + b"}" * 2000]
    replies = [HttpReply(status, body=body) for status in (200, 400, 403, 429, 500) for body in nested]
    replies += [
        HttpReply(status, headers={"content-type": "text/html"}, body=b"<html><h1>Forbidden</h1>by the proxy</html>")
        for status in (200, 400, 403, 404)
    ]
    # negative, zero, huge and non-numeric hints, in the body and in the header
    hints: list[Any] = [1e308, -5, -0.5, 0, 0.0, "soon", "0", 10**30, None]
    for hint in hints:
        shaped = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": hint},
            "retry_after": hint,
        }
        for header in ("1e308", "-5", "0", "soon", "inf", "9" * 400):
            replies.append(HttpReply.of_json(429, shaped, headers={"Retry-After": header}))
    for header in ("1e308", "-5", "0", "0.0", "soon", "nan", "-inf"):
        replies.append(HttpReply(429, headers={"Retry-After": header}, body=b""))
        replies.append(HttpReply.of_json(429, {"description": "no ok field"}, headers={"Retry-After": header}))
    for secret in secrets:
        for echo in _echoes(secret):
            for status in (200, 400, 401, 403, 404, 429, 500):
                replies.append(HttpReply(status, body=_wordy_body(f"token part {echo} refused")))
                replies.append(HttpReply(status, body=f"token part {echo} refused".encode()))
            replies.append(HttpReply.of_json(200, {"id": echo, "message_id": echo, "result": {"message_id": echo}}))
    return replies


def check_hostile_replies(case: ConformanceCase) -> None:
    """Every reply of :func:`hostile_replies`, deterministically (hypothesis may miss one)."""
    calls = check_requests(case)
    registry = case.registry()
    secrets = _secrets_of_calls(case, registry, calls)
    for reply in hostile_replies(secrets):
        where = f"interpret_reply(HTTP {reply.status}, {reply.body[:60]!r}...)"
        for call in calls:
            interpret_checked(registry, case, call, reply, secrets=secrets, where=where)


def check_auth_failures(case: ConformanceCase) -> None:
    """A 401 (or each of the provider's ``auth_failure_statuses``) is ``<integration>:auth_failed``."""
    calls = check_requests(case)
    registry = case.registry()
    secrets = _secrets_of_calls(case, registry, calls)
    provider = registry.provider(case.provider)
    for status in provider.auth_failure_statuses:
        for reply in (HttpReply(status), HttpReply.of_json(status, {"error": "unauthorized", "code": status})):
            result = interpret_checked(registry, case, calls[0], reply, secrets=secrets, where=f"HTTP {status}")
            if result != Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(case.integration.name)):
                raise fail(
                    f"a {status} reply ({reply.body!r}) became {result!r}, not Failed(INTEGRATION,"
                    f" {case.integration.name}:auth_failed); set auth_failure_statuses if {status} means something else",
                    secrets=secrets,
                )


def _examples(case: ConformanceCase, registry: ProviderRegistry) -> list[ExampleReply]:
    given_by_provider = registry.provider(case.provider).example_replies(case.integration)
    examples = [*given_by_provider, *case.examples]
    for example in examples:
        if not isinstance(example, ExampleReply):
            raise fail(f"example_replies gave a {type(example).__name__}, not an ExampleReply")
    return examples


def check_examples(case: ConformanceCase) -> None:
    """Each example reply becomes exactly the result its author expects."""
    calls = check_requests(case)
    registry = case.registry()
    secrets = _secrets_of_calls(case, registry, calls)
    for number, example in enumerate(_examples(case, registry), 1):
        label = f"example reply {number}" + (f" ({example.note})" if example.note else "")
        where = f"{label}, HTTP {example.reply.status} {example.reply.body[:80]!r}"
        for call in calls:
            result = interpret_checked(registry, case, call, example.reply, secrets=secrets, where=where)
            if result != example.expected:
                raise fail(f"{where}: became {result!r}, expected {example.expected!r}", secrets=secrets)


def _wire_request(call: HttpCall) -> WireRequest:
    parts = urlsplit(call.url)
    return WireRequest(
        method=call.method,
        path=parts.path,
        query=dict(parse_qsl(parts.query)),
        headers={name.lower(): value for name, value in call.headers},
        body=call.json,
    )


def check_success_path(case: ConformanceCase) -> None:
    """The success path, always: an example reply that is ``Delivered``, or the
    provider's fake answering the kit's request — accepted, throttled, 5xx, auth failure
    and each per-contact failure read the way the simulator will read them."""
    calls = check_requests(case)
    registry = case.registry()
    provider = registry.provider(case.provider)
    fake = provider.fake
    has_example = any(isinstance(example.expected, Delivered) for example in _examples(case, registry))
    if fake is None:
        if not has_example:
            raise fail(
                f"{case.provider}: the kit has no success reply to check: give example_replies with one"
                " whose expected result is Delivered (or a fake for the simulator)"
            )
        return
    secrets = _secrets_of_calls(case, registry, calls)
    integration = attrs.evolve(
        case.integration, settings={**case.integration.settings, "base_url": f"https://kit.invalid{fake.base_path}"}
    )
    fake_case = attrs.evolve(case, integration=integration)
    for message in case.messages_for(registry.spec(case.provider)):
        call = registry.build_call(integration=integration, chat_id=case.chat_id, message=message)
        if isinstance(call, Failed):
            raise fail(f"build_call refused the kit's plain message ({call.reason})")
        _check_fake_answers(registry, fake_case, fake, call, secrets=secrets)


_EXPECTED = {
    Verdict.ACCEPTED: "Delivered",
    Verdict.THROTTLED: "RateLimited",
    Verdict.SERVER_ERROR: "Failed(TRANSIENT)",
    Verdict.AUTH_FAILED: "Failed(INTEGRATION, <integration>:auth_failed)",
}


def _as_expected(verdict: Verdict, result: object, integration: str) -> bool:
    if verdict is Verdict.ACCEPTED:
        return isinstance(result, Delivered)
    if verdict is Verdict.THROTTLED:
        return isinstance(result, RateLimited)
    if verdict is Verdict.SERVER_ERROR:
        return isinstance(result, Failed) and result.kind is ErrorKind.TRANSIENT
    if verdict is Verdict.AUTH_FAILED:
        return result == Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration))
    # a per-contact verdict the provider has no such thing for (Viber has no window) may
    # well be answered as a delivery: only its validity is checked
    return True


def _check_fake_answers(
    registry: ProviderRegistry, case: ConformanceCase, fake: ProviderFake, call: HttpCall, *, secrets: Sequence[str]
) -> None:
    request = _wire_request(call)
    endpoint = fake.route(request.method, request.path)
    if endpoint is None:
        raise fail(f"the fake does not route the plugin's own request {request.method} {call.redacted()}")
    targets = fake.targets(endpoint, request)
    if not isinstance(targets, list) or not targets:
        raise fail(f"the fake refuses the plugin's own request {call.redacted()}: {targets!r}", secrets=secrets)
    verdicts = [verdict for verdict in Verdict if verdict not in (Verdict.REFUSED, Verdict.TIMEOUT)]
    for verdict in verdicts:
        hints: tuple[int | None, ...] = (7, None) if verdict is Verdict.THROTTLED else (None,)
        for hint in hints:
            answer = fake.answer(verdict, targets[0], retry_after=hint, message_id=1)
            reply = HttpReply(answer.status, tuple(answer.headers.items()), answer.body)
            where = f"the fake's {verdict.value} answer (HTTP {answer.status} {answer.body[:80]!r})"
            result = interpret_checked(registry, case, call, reply, secrets=secrets, where=where)
            if not _as_expected(verdict, result, case.integration.name):
                raise fail(f"{where} became {result!r}, not {_EXPECTED[verdict]}", secrets=secrets)
            if verdict is Verdict.THROTTLED and hint is not None and isinstance(result, RateLimited):
                if result.retry_after not in (None, float(hint)):
                    raise fail(f"{where}: the hint {hint} s became retry_after={result.retry_after!r}")

"""What the conformance kit checks against, and the checks every other check builds on.

:class:`ConformanceCase` says what to check (a plugin and its test integration); the
functions here check one value each — a request (:func:`check_call`), a result
(:func:`check_result`), a reply read through the provider with its log records watched
(:func:`interpret_checked`) — so the checks in :mod:`~broadcaster.testing.conformance`,
:mod:`~broadcaster.testing.replies` and :mod:`~broadcaster.testing.chat_ids` share them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from typing import Any, Iterable, Iterator, Sequence

import attrs
import httpx
from hypothesis import HealthCheck, settings

from ..core.channels import ChannelSpec, MessageKind
from ..core.http import HttpCall, HttpReply
from ..core.models import Integration, Message, TemplateMessage, TextMessage
from ..core.outcomes import ErrorKind
from ..core.reasons import ErrorReason, parse_reason
from ..core.redaction import redact
from ..core.results import (
    MAX_RETRY_AFTER,
    Delivered,
    Failed,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    Rerouted,
    SendResult,
)
from ..plugins import ProviderRegistry, make_plugin_manager
from ..provider import ExampleReply
from .transport import request_from_call

__all__ = [
    "MIN_SECRET",
    "ConformanceCase",
    "ConformanceError",
    "captured_logs",
    "check_call",
    "check_declaration",
    "check_logs",
    "check_reason",
    "check_requests",
    "check_result",
    "check_unreadable",
    "fail",
    "interpret_checked",
    "run_property",
    "shows_secret",
]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
MIN_SECRET = 8
_RESULT_TYPES = (Delivered, RateLimited, Failed, Rerouted, NotSent, OutcomeUnknown)


class ConformanceError(AssertionError):
    """A plugin broke one of the promises the hooks make."""


@attrs.frozen
class ConformanceCase:
    """What to check: a plugin (or None for the installed entry points) and its fixtures."""

    #: a plugin (its module, or any object with a ``register_providers`` hook), a
    #: Provider instance, or None for the installed entry points
    plugin: object | None
    provider: str
    integration: Integration
    chat_id: str = "12345"
    messages: tuple[Message, ...] = ()
    reply_shapes: Any = None
    callback_shapes: Any = None
    max_examples: int = 100
    #: example replies beyond the provider's own ``example_replies``
    examples: tuple[ExampleReply, ...] = ()

    def registry(self) -> ProviderRegistry:
        if self.plugin is None:
            pm = make_plugin_manager(autoload=True, environ={})
        else:
            pm = make_plugin_manager(autoload=False, plugins=[self.plugin])
        # strict for the plugin under test; another installed plugin being broken is
        # not this provider's failure (check_declaration reports it if it is this one)
        return ProviderRegistry(pm, strict=self.plugin is not None)

    def secrets(self, spec: ChannelSpec) -> tuple[str, ...]:
        return tuple(value for name in spec.secret_settings if (value := self.integration.settings.get(name)))

    def messages_for(self, spec: ChannelSpec) -> tuple[Message, ...]:
        if self.messages:
            return self.messages
        defaults: list[Message] = []
        if MessageKind.TEXT in spec.kinds:
            defaults.append(TextMessage("Hello from the broadcaster conformance kit ✓"))
        if MessageKind.TEMPLATE in spec.kinds:
            defaults.append(TemplateMessage("conformance_check", "en", ("Ada", "42")))
        return tuple(defaults)

    def hypothesis_settings(self) -> settings:
        return settings(
            max_examples=self.max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
            report_multiple_bugs=False,
        )


def fail(problem: str, *, secrets: Iterable[str] = ()) -> ConformanceError:
    return ConformanceError(redact(problem, secrets))


def shows_secret(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text`` shows a secret or a part of one that redaction would hide."""
    return redact(text, secrets) != text


def run_property(property_test: Any) -> None:
    # hypothesis reports several distinct failures as an ExceptionGroup; a plugin author
    # wants one readable ConformanceError (the others are chained for the full story)
    try:
        property_test()
    except BaseExceptionGroup as group:
        errors = [e for e in group.exceptions if isinstance(e, ConformanceError)]
        if not errors:
            raise
        raise ConformanceError(f"{errors[0]} (and {len(group.exceptions) - 1} more distinct failures)") from group


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self._formatter.format(record))
        except Exception as exc:  # a record whose arguments do not format is still text the plugin logged
            self.texts.append(f"{record.msg!r} {record.args!r} ({exc!r})")


@contextlib.contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every log record (formatted, with its traceback) emitted inside the block."""
    recorder = _Recorder()
    root = logging.getLogger()
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    try:
        yield recorder.texts
    finally:
        root.removeHandler(recorder)
        root.setLevel(level)


def check_declaration(case: ConformanceCase) -> ChannelSpec:
    registry = case.registry()
    if case.provider not in registry:
        broken = "; ".join(item.message() for item in registry.broken)
        raise fail(f"no plugin declares provider {case.provider!r}; declared: {registry.providers}. {broken}".strip())
    spec = registry.spec(case.provider)
    if case.integration.provider != case.provider:
        raise fail(f"the test integration's provider is {case.integration.provider!r}, not {case.provider!r}")
    missing = [name for name in spec.required_settings if not case.integration.settings.get(name)]
    if missing:
        raise fail(f"the test integration lacks required settings {missing}")
    if not spec.kinds:
        raise fail(f"{case.provider}: ChannelSpec.kinds is empty: the provider can send nothing")
    if not (spec.rate_per_second > 0 and math.isfinite(spec.rate_per_second) and spec.burst >= 1):
        raise fail(f"{case.provider}: rate_per_second must be positive and finite, burst >= 1")
    if spec.window_seconds is not None and not spec.window_seconds > 0:
        raise fail(f"{case.provider}: window_seconds must be positive or None")
    if spec.max_batch < 1:
        raise fail(f"{case.provider}: max_batch must be >= 1")
    short = [name for name in spec.secret_settings if 0 < len(case.integration.settings.get(name, "")) < MIN_SECRET]
    if short:
        raise fail(f"use fake secrets of at least {MIN_SECRET} characters for {short}, so leak checks mean something")
    return spec


def check_call(call: HttpCall, *, case: ConformanceCase, spec: ChannelSpec, where: str) -> None:
    secrets = case.secrets(spec)
    if not isinstance(call, HttpCall):
        raise fail(f"{where}: expected an HttpCall, got {type(call).__name__}")
    if call.method not in _METHODS:
        raise fail(f"{where}: method {call.method!r} is not one of {sorted(_METHODS)}")
    try:
        url = httpx.URL(call.url)
    except httpx.InvalidURL as exc:
        raise fail(f"{where}: URL {call.redacted()!r} is not a valid URL: {exc}", secrets=secrets) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise fail(f"{where}: URL {call.redacted()!r} is not an absolute http(s) URL", secrets=secrets)
    for name, value in call.headers:
        if not _HEADER_NAME.match(name) or any(ch in value for ch in "\r\n"):
            raise fail(f"{where}: header {name!r} is not a valid HTTP header", secrets=secrets)
    try:
        body_text = "" if call.json is None else json.dumps(call.json, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise fail(f"{where}: the body is not JSON-serialisable: {exc}", secrets=secrets) from None
    whole = " ".join([call.url, body_text, *(f"{k}: {v}" for k, v in call.headers)])
    unlisted = [s for s in secrets if s in whole and s not in call.secrets]
    if unlisted:
        raise fail(f"{where}: the call embeds a secret setting it does not list in HttpCall.secrets")
    if shows_secret(call.redacted(), (*secrets, *call.secrets)):
        raise fail(f"{where}: HttpCall.redacted() still shows a secret")
    request_from_call(call)  # httpx must accept it as it is


def check_requests(case: ConformanceCase) -> list[HttpCall]:
    spec = check_declaration(case)
    registry = case.registry()
    calls = []
    for message in case.messages_for(spec):
        where = f"build_call({type(message).__name__})"
        call = registry.build_call(integration=case.integration, chat_id=case.chat_id, message=message)
        if isinstance(call, Failed):
            raise fail(f"{where}: build_call refused the kit's plain message ({call.reason})")
        check_call(call, case=case, spec=spec, where=where)
        calls.append(call)
    if not calls:
        raise fail(f"{case.provider}: no message to build a call for")
    return calls


def check_reason(reason: Any, *, case: ConformanceCase, secrets: Sequence[str], where: str) -> None:
    if not isinstance(reason, ErrorReason):
        raise fail(f"{where}: reason is a {type(reason).__name__}, not an ErrorReason")
    text = str(reason)
    if parse_reason(text) != reason:
        raise fail(f"{where}: {text!r} does not parse back as provider:code:reason", secrets=secrets)
    if shows_secret(text, secrets):
        raise fail(f"{where}: the reason {text!r} contains a secret or part of one", secrets=secrets)
    if reason.provider not in (case.provider, case.integration.name):
        raise fail(f"{where}: reason {text!r} names neither the provider nor the integration", secrets=secrets)
    if reason.code is None and reason.reason == "auth_failed" and reason.provider != case.integration.name:
        raise fail(f"{where}: auth failures are <integration>:auth_failed, got {text!r}", secrets=secrets)


def check_result(result: Any, *, case: ConformanceCase, secrets: Sequence[str], where: str) -> None:
    if not isinstance(result, _RESULT_TYPES):
        raise fail(f"{where}: returned a {type(result).__name__}, not a SendResult")
    if isinstance(result, Delivered):
        if result.message_id is not None and not isinstance(result.message_id, str):
            raise fail(f"{where}: Delivered.message_id must be a str or None, got {type(result.message_id).__name__}")
        if result.message_id is not None and shows_secret(result.message_id, secrets):
            raise fail(f"{where}: Delivered.message_id shows a secret or part of one", secrets=secrets)
    elif isinstance(result, RateLimited):
        hint = result.retry_after
        if hint is not None and not (isinstance(hint, (int, float)) and 0 <= hint <= MAX_RETRY_AFTER):
            raise fail(f"{where}: retry_after {hint!r} must be a finite number of seconds from 0 to {MAX_RETRY_AFTER}")
        if result.reason is not None:
            check_reason(result.reason, case=case, secrets=secrets, where=where)
    elif isinstance(result, Rerouted):
        if not isinstance(result.chat_id, str) or not result.chat_id:
            raise fail(f"{where}: Rerouted.chat_id must be a non-empty str")
        if result.reason is not None:
            check_reason(result.reason, case=case, secrets=secrets, where=where)
    else:
        if isinstance(result, Failed) and not isinstance(result.kind, ErrorKind):
            raise fail(f"{where}: Failed.kind must be an ErrorKind")
        check_reason(result.reason, case=case, secrets=secrets, where=where)
        if isinstance(result, Failed) and result.reason.reason == "auth_failed" and result.reason.code is None:
            if result.kind is not ErrorKind.INTEGRATION:
                raise fail(f"{where}: an auth failure must be of kind INTEGRATION, got {result.kind}")


def check_unreadable(result: Any, reply: HttpReply, *, where: str) -> None:
    """An unreadable reply tells nothing about the contact or the payload; on a 2xx the
    provider may well have sent the message, so it must not be recorded as refused."""
    if reply.json_body()[1] is None or not isinstance(result, Failed):
        return
    if 200 <= reply.status < 300 and result.kind is not ErrorKind.UNKNOWN:
        raise fail(
            f"{where}: an unreadable 2xx reply is Failed({result.kind.name}); the provider may have sent the"
            " message, so it must be Failed(UNKNOWN) (recorded outcome_unknown, never resent silently)"
        )
    # (413 is the one status that blames the payload whoever sends it: the request was too large)
    if result.kind in (ErrorKind.PERMANENT_CONTACT, ErrorKind.PAYLOAD) and reply.status != 413:
        raise fail(
            f"{where}: an unreadable HTTP {reply.status} reply (a proxy's page, garbage) is Failed({result.kind.name});"
            " it says nothing about the contact or the payload: make it TRANSIENT, with a reason saying it was malformed"
        )


def check_logs(texts: Sequence[str], *, secrets: Sequence[str], where: str) -> None:
    for text in texts:
        if shows_secret(text, secrets):
            raise fail(f"{where}: a log record shows a secret or part of one: {text[:200]!r}", secrets=secrets)


def interpret_checked(
    registry: ProviderRegistry,
    case: ConformanceCase,
    call: HttpCall,
    reply: HttpReply,
    *,
    secrets: Sequence[str],
    where: str,
) -> SendResult:
    """``interpret_reply`` on ``reply``, checked: it does not raise, it returns a valid
    result, it reads an unreadable reply honestly, and nothing it logs shows a secret."""
    with captured_logs() as logged:
        try:
            result = registry.interpret_reply(integration=case.integration, call=call, reply=reply)
        except Exception as exc:
            raise fail(f"{where}: interpret_reply raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
    check_logs(logged, secrets=secrets, where=where)
    check_result(result, case=case, secrets=secrets, where=where)
    check_unreadable(result, reply, where=where)
    return result

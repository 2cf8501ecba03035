"""The conformance suite every provider plugin should pass.

Use it in one call::

    from broadcaster.testing import check_provider_conformance
    check_provider_conformance(my_plugin, provider="acme", integration=Integration(...))

or as a test class (one test per check, so a failure says which promise broke)::

    class TestAcmeConformance(ProviderConformance):
        plugin = my_plugin
        provider = "acme"
        integration = Integration("acme-main", "acme", {"token": "fake-token-1234567890"})

The checks, through a real plugin manager (so a misspelt hook fails here too): the
plugin registers its provider and it passes the load-time checks; requests are
well-formed (method, absolute http(s) URL, JSON-serialisable body, every embedded secret
listed, nothing secret in the redacted text); missing settings are ``ConfigError``
without secrets in the message; every reply hypothesis can think of maps to a valid
SendResult without raising (deeply nested bodies included); failure reasons parse as
``provider:code:reason`` and contain no secret nor any part of one (an echoed token
half, a piece of :data:`~broadcaster.core.redaction.MIN_FRAGMENT` or more characters, in
any case); rate-limit hints are finite, never negative and at most
:data:`~broadcaster.core.results.MAX_RETRY_AFTER` (huge, negative and non-numeric hints
are generated); an unreadable reply (not JSON, too deep, empty) is never blamed on the
contact or the payload (but at 413), and on a 2xx it is never a definite failure (the
provider may have sent the message: ``Failed(UNKNOWN)``, ``OutcomeUnknown`` or
``Delivered``); a fixed set of hostile replies passes the same checks; callbacks never
raise on garbage; native batches answer for exactly the contacts they address.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping, Sequence

import attrs
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..core.channels import ChannelSpec, MessageKind
from ..core.errors import ConfigError, PluginError
from ..core.http import HttpCall, HttpReply
from ..core.models import Integration, Message, TemplateMessage, TextMessage
from ..core.outcomes import ErrorKind
from ..core.reasons import ErrorReason, parse_reason
from ..core.redaction import redact
from ..core.results import (
    MAX_RETRY_AFTER,
    Delivered,
    DeliveryUpdate,
    Failed,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    Rerouted,
)
from ..plugins import ProviderRegistry, make_plugin_manager
from ..registry import check_provider
from . import strategies
from .transport import request_from_call

__all__ = [
    "ConformanceCase",
    "ConformanceError",
    "ProviderConformance",
    "check_hostile_replies",
    "check_provider_conformance",
    "hostile_replies",
]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_MIN_SECRET = 8
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


def _fail(problem: str, *, secrets: Iterable[str] = ()) -> ConformanceError:
    return ConformanceError(redact(problem, secrets))


def _shows_secret(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text`` shows a secret or a part of one that redaction would hide."""
    return redact(text, secrets) != text


def _run(property_test: Any) -> None:
    # hypothesis reports several distinct failures as an ExceptionGroup; a plugin author
    # wants one readable ConformanceError (the others are chained for the full story)
    try:
        property_test()
    except BaseExceptionGroup as group:
        errors = [e for e in group.exceptions if isinstance(e, ConformanceError)]
        if not errors:
            raise
        raise ConformanceError(f"{errors[0]} (and {len(group.exceptions) - 1} more distinct failures)") from group


# -- individual checks ---------------------------------------------------------------


def check_declaration(case: ConformanceCase) -> ChannelSpec:
    registry = case.registry()
    if case.provider not in registry:
        broken = "; ".join(item.message() for item in registry.broken)
        raise _fail(f"no plugin declares provider {case.provider!r}; declared: {registry.providers}. {broken}".strip())
    spec = registry.spec(case.provider)
    if case.integration.provider != case.provider:
        raise _fail(f"the test integration's provider is {case.integration.provider!r}, not {case.provider!r}")
    missing = [name for name in spec.required_settings if not case.integration.settings.get(name)]
    if missing:
        raise _fail(f"the test integration lacks required settings {missing}")
    if not spec.kinds:
        raise _fail(f"{case.provider}: ChannelSpec.kinds is empty: the provider can send nothing")
    if not (spec.rate_per_second > 0 and math.isfinite(spec.rate_per_second) and spec.burst >= 1):
        raise _fail(f"{case.provider}: rate_per_second must be positive and finite, burst >= 1")
    if spec.window_seconds is not None and not spec.window_seconds > 0:
        raise _fail(f"{case.provider}: window_seconds must be positive or None")
    if spec.max_batch < 1:
        raise _fail(f"{case.provider}: max_batch must be >= 1")
    short = [name for name in spec.secret_settings if 0 < len(case.integration.settings.get(name, "")) < _MIN_SECRET]
    if short:
        raise _fail(f"use fake secrets of at least {_MIN_SECRET} characters for {short}, so leak checks mean something")
    return spec


def check_call(call: HttpCall, *, case: ConformanceCase, spec: ChannelSpec, where: str) -> None:
    secrets = case.secrets(spec)
    if not isinstance(call, HttpCall):
        raise _fail(f"{where}: expected an HttpCall, got {type(call).__name__}")
    if call.method not in _METHODS:
        raise _fail(f"{where}: method {call.method!r} is not one of {sorted(_METHODS)}")
    url = httpx.URL(call.url)
    if url.scheme not in ("http", "https") or not url.host:
        raise _fail(f"{where}: URL {call.redacted()!r} is not an absolute http(s) URL", secrets=secrets)
    for name, value in call.headers:
        if not _HEADER_NAME.match(name) or any(ch in value for ch in "\r\n"):
            raise _fail(f"{where}: header {name!r} is not a valid HTTP header", secrets=secrets)
    try:
        body_text = "" if call.json is None else json.dumps(call.json, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(f"{where}: the body is not JSON-serialisable: {exc}", secrets=secrets) from None
    whole = " ".join([call.url, body_text, *(f"{k}: {v}" for k, v in call.headers)])
    unlisted = [s for s in secrets if s in whole and s not in call.secrets]
    if unlisted:
        raise _fail(f"{where}: the call embeds a secret setting it does not list in HttpCall.secrets")
    if _shows_secret(call.redacted(), (*secrets, *call.secrets)):
        raise _fail(f"{where}: HttpCall.redacted() still shows a secret")
    request_from_call(call)  # httpx must accept it as it is


def check_requests(case: ConformanceCase) -> list[HttpCall]:
    spec = check_declaration(case)
    registry = case.registry()
    calls = []
    for message in case.messages_for(spec):
        where = f"build_call({type(message).__name__})"
        call = registry.build_call(integration=case.integration, chat_id=case.chat_id, message=message)
        if isinstance(call, Failed):
            raise _fail(f"{where}: build_call refused the kit's plain message ({call.reason})")
        check_call(call, case=case, spec=spec, where=where)
        calls.append(call)
    if not calls:
        raise _fail(f"{case.provider}: no message to build a call for")
    return calls


def check_missing_settings(case: ConformanceCase) -> None:
    spec = check_declaration(case)
    registry = case.registry()
    secrets = case.secrets(spec)
    message = case.messages_for(spec)[0]
    for name in spec.required_settings:
        settings_without = {k: v for k, v in case.integration.settings.items() if k != name}
        integration = attrs.evolve(case.integration, settings=settings_without)
        try:
            registry.build_call(integration=integration, chat_id=case.chat_id, message=message)
        except ConfigError as exc:
            if any(s in str(exc) for s in secrets):
                raise _fail(f"the ConfigError for a missing {name!r} shows a secret", secrets=secrets) from None
        except Exception as exc:
            raise _fail(
                f"a missing {name!r} raised {type(exc).__name__}, not ConfigError: {exc}", secrets=secrets
            ) from exc
        else:
            raise _fail(f"build_call without the required setting {name!r} did not raise ConfigError")


def check_loads_cleanly(case: ConformanceCase) -> None:
    """The provider passes the checks made when plugins load, under its declared name."""
    check_declaration(case)
    info = case.registry().info(case.provider)
    problem = check_provider(info.provider_object)
    if problem is not None:
        raise _fail(problem)
    if info.provider_object.name != case.provider:
        raise _fail(f"the provider object's name is {info.provider_object.name!r}, not {case.provider!r}")


def _check_reason(reason: Any, *, case: ConformanceCase, secrets: Sequence[str], where: str) -> None:
    if not isinstance(reason, ErrorReason):
        raise _fail(f"{where}: reason is a {type(reason).__name__}, not an ErrorReason")
    text = str(reason)
    if parse_reason(text) != reason:
        raise _fail(f"{where}: {text!r} does not parse back as provider:code:reason", secrets=secrets)
    if _shows_secret(text, secrets):
        raise _fail(f"{where}: the reason {text!r} contains a secret or part of one", secrets=secrets)
    if reason.provider not in (case.provider, case.integration.name):
        raise _fail(f"{where}: reason {text!r} names neither the provider nor the integration", secrets=secrets)
    if reason.code is None and reason.reason == "auth_failed" and reason.provider != case.integration.name:
        raise _fail(f"{where}: auth failures are <integration>:auth_failed, got {text!r}", secrets=secrets)


def check_result(result: Any, *, case: ConformanceCase, secrets: Sequence[str], where: str) -> None:
    if not isinstance(result, _RESULT_TYPES):
        raise _fail(f"{where}: returned a {type(result).__name__}, not a SendResult")
    if isinstance(result, Delivered):
        if result.message_id is not None and not isinstance(result.message_id, str):
            raise _fail(f"{where}: Delivered.message_id must be a str or None")
    elif isinstance(result, RateLimited):
        hint = result.retry_after
        if hint is not None and not (isinstance(hint, (int, float)) and 0 <= hint <= MAX_RETRY_AFTER):
            raise _fail(f"{where}: retry_after {hint!r} must be a finite number of seconds from 0 to {MAX_RETRY_AFTER}")
        if result.reason is not None:
            _check_reason(result.reason, case=case, secrets=secrets, where=where)
    elif isinstance(result, Rerouted):
        if not isinstance(result.chat_id, str) or not result.chat_id:
            raise _fail(f"{where}: Rerouted.chat_id must be a non-empty str")
        if result.reason is not None:
            _check_reason(result.reason, case=case, secrets=secrets, where=where)
    else:
        if isinstance(result, Failed) and not isinstance(result.kind, ErrorKind):
            raise _fail(f"{where}: Failed.kind must be an ErrorKind")
        _check_reason(result.reason, case=case, secrets=secrets, where=where)
        if isinstance(result, Failed) and result.reason.reason == "auth_failed" and result.reason.code is None:
            if result.kind is not ErrorKind.INTEGRATION:
                raise _fail(f"{where}: an auth failure must be of kind INTEGRATION, got {result.kind}")


def check_unreadable(result: Any, reply: HttpReply, *, where: str) -> None:
    """An unreadable reply tells nothing about the contact or the payload; on a 2xx the
    provider may well have sent the message, so it must not be recorded as refused."""
    if reply.json_body()[1] is None or not isinstance(result, Failed):
        return
    if 200 <= reply.status < 300 and result.kind is not ErrorKind.UNKNOWN:
        raise _fail(
            f"{where}: an unreadable 2xx reply is Failed({result.kind.name}); the provider may have sent the"
            " message, so it must be Failed(UNKNOWN) (recorded outcome_unknown, never resent silently)"
        )
    # (413 is the one status that blames the payload whoever sends it: the request was too large)
    if result.kind in (ErrorKind.PERMANENT_CONTACT, ErrorKind.PAYLOAD) and reply.status != 413:
        raise _fail(
            f"{where}: an unreadable HTTP {reply.status} reply (a proxy's page, garbage) is Failed({result.kind.name});"
            " it says nothing about the contact or the payload: make it TRANSIENT, with a reason saying it was malformed"
        )


def check_replies(case: ConformanceCase) -> None:
    calls = check_requests(case)
    spec = case.registry().spec(case.provider)
    registry = case.registry()
    secrets = tuple({*case.secrets(spec), *(s for call in calls for s in call.secrets)})

    _check_auth_failures(case, registry, calls[0], secrets)

    @case.hypothesis_settings()
    @given(call=st.sampled_from(calls), reply=strategies.provider_replies(shapes=case.reply_shapes, secrets=secrets))
    def every_reply_maps_to_a_result(call: HttpCall, reply: Any) -> None:
        try:
            result = registry.interpret_reply(integration=case.integration, call=call, reply=reply)
        except Exception as exc:
            raise _fail(f"interpret_reply raised {type(exc).__name__}: {exc} on {reply!r}", secrets=secrets) from exc
        check_result(result, case=case, secrets=secrets, where=f"interpret_reply({reply!r})")
        check_unreadable(result, reply, where=f"interpret_reply({reply!r})")

    _run(every_reply_maps_to_a_result)


def _echoes(secret: str) -> list[str]:
    """Parts of ``secret`` a provider might echo: whole, each side of ``:``, pieces, upper case."""
    parts = [secret, secret.upper(), *(side for side in secret.split(":") if len(side) >= _MIN_SECRET)]
    if len(secret) > _MIN_SECRET + 2:
        parts += [secret[1:-1], secret[len(secret) // 3 : len(secret) // 3 + _MIN_SECRET]]
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
    hints: list[Any] = [1e308, -5, -0.5, "soon", 10**30, None]
    for hint in hints:
        shaped = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": hint},
        }
        for header in ("1e308", "-5", "soon", "inf", "9" * 400):
            replies.append(HttpReply.of_json(429, shaped, headers={"Retry-After": header}))
    for header in ("1e308", "-5", "soon", "nan"):
        replies.append(HttpReply(429, headers={"Retry-After": header}, body=b""))
        replies.append(HttpReply.of_json(429, {"description": "no ok field"}, headers={"Retry-After": header}))
    for secret in secrets:
        for echo in _echoes(secret):
            for status in (200, 400, 403, 500):
                replies.append(HttpReply(status, body=_wordy_body(f"token part {echo} refused")))
                replies.append(HttpReply(status, body=f"token part {echo} refused".encode()))
    return replies


def check_hostile_replies(case: ConformanceCase) -> None:
    """Every reply of :func:`hostile_replies`, deterministically (hypothesis may miss one)."""
    calls = check_requests(case)
    registry = case.registry()
    spec = registry.spec(case.provider)
    secrets = tuple({*case.secrets(spec), *(s for call in calls for s in call.secrets)})
    for reply in hostile_replies(secrets):
        where = f"interpret_reply(HTTP {reply.status}, {reply.body[:60]!r}...)"
        for call in calls:
            try:
                result = registry.interpret_reply(integration=case.integration, call=call, reply=reply)
            except Exception as exc:
                raise _fail(f"{where}: interpret_reply raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
            check_result(result, case=case, secrets=secrets, where=where)
            check_unreadable(result, reply, where=where)


def _check_auth_failures(
    case: ConformanceCase, registry: ProviderRegistry, call: HttpCall, secrets: Sequence[str]
) -> None:
    """A 401 (or each of the provider's ``auth_failure_statuses``) is ``<integration>:auth_failed``."""
    provider = registry.provider(case.provider)
    for status in provider.auth_failure_statuses:
        for reply in (HttpReply(status), HttpReply.of_json(status, {"error": "unauthorized", "code": status})):
            result = registry.interpret_reply(integration=case.integration, call=call, reply=reply)
            reason = getattr(result, "reason", None)
            if not (
                isinstance(result, Failed)
                and result.kind is ErrorKind.INTEGRATION
                and reason == ErrorReason.auth_failed(case.integration.name)
            ):
                raise _fail(
                    f"a {status} reply ({reply.body!r}) became {result!r}, not Failed(INTEGRATION,"
                    f" {case.integration.name}:auth_failed); set auth_failure_statuses if {status} means something else",
                    secrets=secrets,
                )


def _implements(registry: ProviderRegistry, method: str, provider: str) -> bool:
    return method in registry.info(provider).methods


def _check_update(update: Any, *, case: ConformanceCase, secrets: Sequence[str], where: str) -> None:
    if not isinstance(update, DeliveryUpdate):
        raise _fail(f"{where}: returned a {type(update).__name__}, not a DeliveryUpdate")
    if not (isinstance(update.at, (int, float)) and math.isfinite(update.at)):
        raise _fail(f"{where}: DeliveryUpdate.at must be finite POSIX seconds, got {update.at!r}")
    if update.reason is not None:
        _check_reason(update.reason, case=case, secrets=secrets, where=where)


def check_callbacks(case: ConformanceCase) -> None:
    spec = check_declaration(case)
    registry = case.registry()
    secrets = case.secrets(spec)
    verifies = _implements(registry, "verify_callback", case.provider)
    parses = _implements(registry, "parse_callback", case.provider)
    if not (verifies or parses):
        return

    @case.hypothesis_settings()
    @given(
        headers=strategies.callback_headers(),
        body=strategies.callback_bodies(shapes=case.callback_shapes, secrets=secrets),
    )
    def callbacks_never_raise(headers: Mapping[str, str], body: bytes) -> None:
        where = f"callback {body!r}"
        try:
            if verifies:
                verdict = registry.verify_callback(integration=case.integration, headers=headers, body=body)
                if not isinstance(verdict, bool):
                    raise _fail(f"verify_callback returned {verdict!r}, not a bool")
            if parses:
                updates = registry.parse_callback(integration=case.integration, headers=headers, body=body)
        except (ConformanceError, PluginError):
            raise
        except Exception as exc:
            raise _fail(f"{where}: a callback hook raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
        if parses:
            for update in updates:
                _check_update(update, case=case, secrets=secrets, where=where)

    _run(callbacks_never_raise)


def check_batches(case: ConformanceCase) -> None:
    spec = check_declaration(case)
    if spec.max_batch <= 1:
        return
    registry = case.registry()
    secrets = case.secrets(spec)
    size = min(3, spec.max_batch)
    recipients = [(f"contact-{i}", f"{case.chat_id}{i}") for i in range(size)]
    message = case.messages_for(spec)[0]
    call = registry.build_batch_call(integration=case.integration, recipients=recipients, message=message)
    if call is None:
        raise _fail(
            f"build_batch_call answered None for {type(message).__name__} although max_batch is {spec.max_batch}:"
            " a provider that declares batches must batch its plainest message"
        )
    check_call(call, case=case, spec=spec, where="build_batch_call")
    wanted = {contact for contact, _ in recipients}
    if set(call.recipients) != wanted:
        raise _fail(f"build_batch_call: call.recipients {call.recipients} != the contacts {sorted(wanted)}")
    secrets = tuple({*secrets, *call.secrets})

    @case.hypothesis_settings()
    @given(reply=strategies.provider_replies(shapes=case.reply_shapes, secrets=secrets))
    def every_batch_reply_maps(reply: Any) -> None:
        try:
            results = registry.interpret_batch_reply(integration=case.integration, call=call, reply=reply)
        except Exception as exc:
            raise _fail(f"interpret_batch_reply raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
        if set(results) != wanted:
            raise _fail(f"interpret_batch_reply answered for {sorted(results)}, not {sorted(wanted)}")
        for contact, result in results.items():
            check_result(result, case=case, secrets=secrets, where=f"interpret_batch_reply[{contact}]")
            check_unreadable(result, reply, where=f"interpret_batch_reply[{contact}]")

    _run(every_batch_reply_maps)


CHECKS = (
    check_declaration,
    check_requests,
    check_missing_settings,
    check_loads_cleanly,
    # the fixed hostile replies first: a plugin failing one fails fast, with no shrinking
    check_hostile_replies,
    check_replies,
    check_callbacks,
    check_batches,
)


def check_provider_conformance(
    plugin: object | None,
    *,
    provider: str,
    integration: Integration,
    chat_id: str = "12345",
    messages: Sequence[Message] = (),
    reply_shapes: Any = None,
    callback_shapes: Any = None,
    max_examples: int = 100,
) -> None:
    """Run every check; raise :class:`ConformanceError` at the first broken promise.

    ``plugin`` is the plugin object (usually its module); None checks the plugin
    installed under the ``broadcaster`` entry points instead. ``integration`` carries
    realistic settings with fake secrets (8+ characters). ``reply_shapes`` /
    ``callback_shapes`` are optional hypothesis strategies of JSON values shaped like
    your provider's payloads.
    """
    case = ConformanceCase(
        plugin=plugin,
        provider=provider,
        integration=integration,
        chat_id=chat_id,
        messages=tuple(messages),
        reply_shapes=reply_shapes,
        callback_shapes=callback_shapes,
        max_examples=max_examples,
    )
    for check in CHECKS:
        check(case)


class ProviderConformance:
    """Subclass in your tests (name it ``Test...``) and set the class attributes."""

    plugin: object | None = None
    provider: str = ""
    integration: Integration
    chat_id: str = "12345"
    messages: Sequence[Message] = ()
    reply_shapes: Any = None
    callback_shapes: Any = None
    max_examples: int = 100

    def conformance_case(self) -> ConformanceCase:
        return ConformanceCase(
            plugin=self.plugin,
            provider=self.provider,
            integration=self.integration,
            chat_id=self.chat_id,
            messages=tuple(self.messages),
            reply_shapes=self.reply_shapes,
            callback_shapes=self.callback_shapes,
            max_examples=self.max_examples,
        )

    def test_declares_its_provider(self) -> None:
        check_declaration(self.conformance_case())

    def test_builds_well_formed_requests(self) -> None:
        check_requests(self.conformance_case())

    def test_missing_settings_raise_config_error(self) -> None:
        check_missing_settings(self.conformance_case())

    def test_passes_the_load_checks(self) -> None:
        check_loads_cleanly(self.conformance_case())

    def test_every_reply_maps_to_a_valid_result(self) -> None:
        check_replies(self.conformance_case())

    def test_hostile_replies_map_to_valid_results(self) -> None:
        check_hostile_replies(self.conformance_case())

    def test_callbacks_never_raise(self) -> None:
        check_callbacks(self.conformance_case())

    def test_batches_answer_for_every_recipient(self) -> None:
        check_batches(self.conformance_case())

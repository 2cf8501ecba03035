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

Always, besides what hypothesis draws: the author's example replies
(``Provider.example_replies``) become exactly their expected results; the success path
is checked (a ``Delivered`` example, or the provider's fake answering the kit's own
request — accepted, throttled, 5xx and auth failure read as the simulator will read
them); each of ``auth_failure_statuses`` (401 unless declared otherwise) is
``<integration>:auth_failed``; hostile chat ids (path and query injection, CR/LF, dot
segments) never steer the request; and no log record emitted while reading a reply
shows a secret or part of one.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import attrs
from hypothesis import given

from ..core.errors import ConfigError, PluginError
from ..core.models import Integration, Message
from ..core.results import DeliveryUpdate
from ..plugins import ProviderRegistry
from ..provider import ExampleReply
from ..registry import check_provider
from . import strategies
from .case import (
    ConformanceCase,
    ConformanceError,
    check_call,
    check_declaration,
    check_reason,
    check_requests,
    check_result,
    check_unreadable,
    fail,
    run_property,
    shows_secret,
)
from .chat_ids import check_chat_ids
from .replies import (
    check_auth_failures,
    check_examples,
    check_hostile_replies,
    check_replies,
    check_success_path,
    hostile_replies,
)

__all__ = [
    "CHECKS",
    "ConformanceCase",
    "ConformanceError",
    "ProviderConformance",
    "check_auth_failures",
    "check_batches",
    "check_callbacks",
    "check_chat_ids",
    "check_declaration",
    "check_examples",
    "check_hostile_replies",
    "check_loads_cleanly",
    "check_missing_settings",
    "check_provider_conformance",
    "check_replies",
    "check_requests",
    "check_success_path",
    "hostile_replies",
]


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
            if shows_secret(f"{exc} {getattr(exc, 'hint', '') or ''}", secrets):
                raise fail(
                    f"the ConfigError for a missing {name!r} shows a secret or part of one", secrets=secrets
                ) from None
        except Exception as exc:
            raise fail(
                f"a missing {name!r} raised {type(exc).__name__}, not ConfigError: {exc}", secrets=secrets
            ) from exc
        else:
            raise fail(f"build_call without the required setting {name!r} did not raise ConfigError")


def check_loads_cleanly(case: ConformanceCase) -> None:
    """The provider passes the checks made when plugins load, under its declared name."""
    check_declaration(case)
    info = case.registry().info(case.provider)
    problem = check_provider(info.provider_object)
    if problem is not None:
        raise fail(problem)
    if info.provider_object.name != case.provider:
        raise fail(f"the provider object's name is {info.provider_object.name!r}, not {case.provider!r}")


def _implements(registry: ProviderRegistry, method: str, provider: str) -> bool:
    return method in registry.info(provider).methods


def _check_update(update: Any, *, case: ConformanceCase, secrets: Sequence[str], where: str) -> None:
    if not isinstance(update, DeliveryUpdate):
        raise fail(f"{where}: returned a {type(update).__name__}, not a DeliveryUpdate")
    if not (isinstance(update.at, (int, float)) and math.isfinite(update.at)):
        raise fail(f"{where}: DeliveryUpdate.at must be finite POSIX seconds, got {update.at!r}")
    if update.reason is not None:
        check_reason(update.reason, case=case, secrets=secrets, where=where)


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
                    raise fail(f"verify_callback returned {verdict!r}, not a bool")
            if parses:
                updates = registry.parse_callback(integration=case.integration, headers=headers, body=body)
        except (ConformanceError, PluginError):
            raise
        except Exception as exc:
            raise fail(f"{where}: a callback hook raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
        if parses:
            for update in updates:
                _check_update(update, case=case, secrets=secrets, where=where)

    run_property(callbacks_never_raise)


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
        raise fail(
            f"build_batch_call answered None for {type(message).__name__} although max_batch is {spec.max_batch}:"
            " a provider that declares batches must batch its plainest message"
        )
    check_call(call, case=case, spec=spec, where="build_batch_call")
    wanted = {contact for contact, _ in recipients}
    if set(call.recipients) != wanted:
        raise fail(f"build_batch_call: call.recipients {call.recipients} != the contacts {sorted(wanted)}")
    secrets = tuple({*secrets, *call.secrets})

    @case.hypothesis_settings()
    @given(reply=strategies.provider_replies(shapes=case.reply_shapes, secrets=secrets))
    def every_batch_reply_maps(reply: Any) -> None:
        try:
            results = registry.interpret_batch_reply(integration=case.integration, call=call, reply=reply)
        except Exception as exc:
            raise fail(f"interpret_batch_reply raised {type(exc).__name__}: {exc}", secrets=secrets) from exc
        if set(results) != wanted:
            raise fail(f"interpret_batch_reply answered for {sorted(results)}, not {sorted(wanted)}")
        for contact, result in results.items():
            check_result(result, case=case, secrets=secrets, where=f"interpret_batch_reply[{contact}]")
            check_unreadable(result, reply, where=f"interpret_batch_reply[{contact}]")

    run_property(every_batch_reply_maps)


CHECKS = (
    check_declaration,
    check_requests,
    check_missing_settings,
    check_loads_cleanly,
    # the author's examples and the success path first: they fail fast on the commonest bugs
    check_examples,
    check_success_path,
    # the fixed hostile replies next: a plugin failing one fails fast, with no shrinking
    check_hostile_replies,
    check_auth_failures,
    check_chat_ids,
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
    examples: Sequence[ExampleReply] = (),
) -> None:
    """Run every check; raise :class:`ConformanceError` at the first broken promise.

    ``plugin`` is the plugin object (usually its module); None checks the plugin
    installed under the ``broadcaster`` entry points instead. ``integration`` carries
    realistic settings with fake secrets (8+ characters). ``reply_shapes`` /
    ``callback_shapes`` are optional hypothesis strategies of JSON values shaped like
    your provider's payloads. ``examples`` are example replies beyond the provider's own
    ``example_replies``.
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
        examples=tuple(examples),
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
    examples: Sequence[ExampleReply] = ()

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
            examples=tuple(self.examples),
        )

    def test_declares_its_provider(self) -> None:
        check_declaration(self.conformance_case())

    def test_builds_well_formed_requests(self) -> None:
        check_requests(self.conformance_case())

    def test_missing_settings_raise_config_error(self) -> None:
        check_missing_settings(self.conformance_case())

    def test_passes_the_load_checks(self) -> None:
        check_loads_cleanly(self.conformance_case())

    def test_example_replies_become_the_expected_results(self) -> None:
        check_examples(self.conformance_case())

    def test_the_success_path_is_delivered(self) -> None:
        check_success_path(self.conformance_case())

    def test_auth_failures_are_the_integrations(self) -> None:
        check_auth_failures(self.conformance_case())

    def test_hostile_chat_ids_never_steer_the_request(self) -> None:
        check_chat_ids(self.conformance_case())

    def test_every_reply_maps_to_a_valid_result(self) -> None:
        check_replies(self.conformance_case())

    def test_hostile_replies_map_to_valid_results(self) -> None:
        check_hostile_replies(self.conformance_case())

    def test_callbacks_never_raise(self) -> None:
        check_callbacks(self.conformance_case())

    def test_batches_answer_for_every_recipient(self) -> None:
        check_batches(self.conformance_case())

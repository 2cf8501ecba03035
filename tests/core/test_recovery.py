"""What a send becomes when it cannot be made, and what a crashed send becomes."""

from __future__ import annotations

from broadcaster.core.models import Audience, Broadcast, FallbackTemplate, Mode
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.recovery import claimed_elsewhere, misconfigured_send
from broadcaster.core.retry import inherit_source_config


def test_a_send_that_cannot_be_built_fails_as_an_integration_problem():
    failed = misconfigured_send("telegram", "integration 'tg' (telegram) has no 'token' setting\n")
    assert failed.kind is ErrorKind.INTEGRATION
    assert str(failed.reason) == "telegram:config:integration 'tg' (telegram) has no 'token' setting"


def test_a_contact_claimed_by_another_worker_is_never_sent():
    failed = claimed_elsewhere("whatsapp")
    assert (failed.kind, str(failed.reason)) == (ErrorKind.UNKNOWN, "whatsapp:claim:already_claimed")


def test_a_retry_inherits_its_sources_current_configuration():
    fallback = FallbackTemplate("wa", "reopen", "en", ("first",))
    source = Broadcast(id="s", mode=Mode.FLOW, flow_id="f2", fallbacks=(fallback,), channels=("wa",))
    retry = Broadcast(id="r", flow_id="f1", retry_of="s", audience=Audience(contact_ids=("c1",)))
    inherited = inherit_source_config(retry, source)
    assert (inherited.flow_id, inherited.fallbacks, inherited.channels) == ("f2", (fallback,), ("wa",))
    assert (inherited.id, inherited.audience, inherited.retry_of) == ("r", retry.audience, "s")

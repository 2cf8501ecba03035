"""A provider's "window closed" on the source makes a retry treat that window as closed
(core.retry.closed_windows, the planner's closed_windows)."""

from __future__ import annotations

from broadcaster.core.channels import ChannelSpec, MessageKind
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Chat,
    Contact,
    FallbackTemplate,
    Flow,
    Mode,
    TemplateMessage,
    TextCard,
    TextMessage,
)
from broadcaster.core.preflight import Planner, SendPlan
from broadcaster.core.retry import closed_windows, window_closed_reasons

NOW = 1_800_000_000.0
WHATSAPP = ChannelSpec(
    "whatsapp",
    kinds={MessageKind.TEXT, MessageKind.TEMPLATE},
    window_seconds=86_400,
    window_closed_errors={"131047:re_engagement_message_required"},
)
TELEGRAM = ChannelSpec("telegram")
FLOW = Flow(id="f", first_card=TextCard("Hi"))
FALLBACK = FallbackTemplate("wa", "reopen", "en")


def planner(closed, *, fallbacks=(FALLBACK,)) -> Planner:
    broadcast = Broadcast(id="r", mode=Mode.FLOW, flow_id="f", audience=Audience(filter=""), fallbacks=fallbacks)
    return Planner(broadcast=broadcast, flow=FLOW, channels={"wa": WHATSAPP, "tg": TELEGRAM}, closed_windows=closed)


def test_the_reasons_to_look_for_are_each_providers_own():
    assert window_closed_reasons({"wa": WHATSAPP, "tg": TELEGRAM}) == {"whatsapp:131047:re_engagement_message_required"}


def test_closed_windows_keeps_the_latest_refusal_per_contact_and_integration():
    failures = [("a", "wa", 10.0), ("a", "wa", 30.0), ("a", "ig", 5.0), ("b", None, 7.0)]
    assert closed_windows(failures) == {("a", "wa"): 30.0, ("a", "ig"): 5.0}


def test_stale_open_window_gets_the_fallback_in_the_retry():
    # the stored data says the contact wrote an hour ago; the provider said closed at NOW - 600
    contact = Contact("a", chats=(Chat("wa", "1", last_inbound_at=NOW - 3600),))
    assert planner({}).plan(contact, NOW) == SendPlan("wa", "1", TextMessage("Hi"), False)
    assert planner({("a", "wa"): NOW - 600}).plan(contact, NOW) == SendPlan(
        "wa", "1", TemplateMessage("reopen", "en", ()), True
    )


def test_a_contact_who_wrote_after_the_refusal_gets_the_text_again():
    contact = Contact("a", chats=(Chat("wa", "1", last_inbound_at=NOW - 60),))
    assert planner({("a", "wa"): NOW - 600}).plan(contact, NOW).message == TextMessage("Hi")


def test_a_closed_window_moves_the_contact_to_its_other_chat():
    contact = Contact("a", chats=(Chat("wa", "1", last_inbound_at=NOW - 3600), Chat("tg", "9")))
    assert planner({("a", "wa"): NOW - 600}, fallbacks=()).plan(contact, NOW) == SendPlan(
        "tg", "9", TextMessage("Hi"), False
    )

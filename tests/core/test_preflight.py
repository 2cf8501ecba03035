"""Pre-flight: per contact, a send plan or the precise reason it is skipped."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.channels import ChannelSpec, MessageKind
from broadcaster.core.errors import FilterSyntaxError
from broadcaster.core.models import (
    Broadcast,
    Chat,
    Contact,
    FallbackTemplate,
    Flow,
    Mode,
    TemplateCard,
    TemplateMessage,
    TemplateRoute,
    TextCard,
    TextMessage,
)
from broadcaster.core.outcomes import Status
from broadcaster.core.preflight import Planner, SendPlan, Skip

DAY = 86_400.0
NOW = 1_700_000_000.0
OPEN = NOW - 3600  # wrote to us an hour ago
CLOSED = NOW - 2 * DAY

_WA = ChannelSpec("whatsapp", kinds={MessageKind.TEXT, MessageKind.TEMPLATE}, window_seconds=DAY)
CHANNELS = {
    "tg": ChannelSpec("telegram"),
    "vb": ChannelSpec("viber"),
    "wa": _WA,
    "wa2": _WA,
}

HELLO = TextCard("Hello!")
FLOW = Flow("f1", first_card=HELLO)


def template_planner(*routes: TemplateRoute, channels: dict[str, ChannelSpec] = CHANNELS) -> Planner:
    broadcast = Broadcast(id="b1", mode=Mode.TEMPLATE, routes=routes)
    return Planner(broadcast=broadcast, flow=None, channels=channels)


def flow_planner(
    flow: Flow | None = FLOW,
    *,
    fallbacks: tuple[FallbackTemplate, ...] = (),
    prefer: tuple[str, ...] = (),
    channels: dict[str, ChannelSpec] = CHANNELS,
) -> Planner:
    broadcast = Broadcast(id="b1", mode=Mode.FLOW, flow_id="f1", fallbacks=fallbacks, channels=prefer)
    return Planner(broadcast=broadcast, flow=flow, channels=channels)


def contact(*chats: Chat, opted_out: bool = False, name: str = "Ada", **fields: Any) -> Contact:
    return Contact("c1", name=name, fields=fields, opted_out=opted_out, chats=chats)


WA = Chat("wa", "+4790000001", last_inbound_at=OPEN)
WA_CLOSED = Chat("wa", "+4790000001", last_inbound_at=CLOSED)
WA_NEVER = Chat("wa", "+4790000001")
WA2_CLOSED = Chat("wa2", "+4790000002", last_inbound_at=CLOSED)
TG = Chat("tg", "777")
VB = Chat("vb", "vb-id")

PROMO_WA = TemplateRoute("wa", "promo", params=("first_name",))
PROMO_TG = TemplateRoute("tg", "promo_tg")

# -- checks that apply to both modes ---------------------------------------------------------


@pytest.mark.parametrize("planner", [template_planner(PROMO_TG), flow_planner()], ids=["template", "flow"])
def test_opted_out_comes_first(planner: Planner) -> None:
    assert Skip(Status.OPTED_OUT, "tg") == planner.plan(contact(TG, WA, opted_out=True), NOW)
    assert Skip(Status.OPTED_OUT, None) == planner.plan(contact(opted_out=True), NOW)


@pytest.mark.parametrize("planner", [template_planner(PROMO_TG), flow_planner()], ids=["template", "flow"])
def test_no_chat_at_all_is_no_reachable_channel(planner: Planner) -> None:
    assert Skip(Status.NO_REACHABLE_CHANNEL, None) == planner.plan(contact(), NOW)


# -- template mode ---------------------------------------------------------------------------


def test_routes_are_tried_in_order_not_by_chat_order() -> None:
    planner = template_planner(PROMO_WA, PROMO_TG)
    expected = SendPlan("wa", "+4790000001", TemplateMessage("promo", "en", ("Ada",)))
    assert expected == planner.plan(contact(TG, WA_CLOSED, first_name="Ada"), NOW)


def test_a_later_route_serves_contacts_the_first_cannot() -> None:
    planner = template_planner(PROMO_WA, PROMO_TG)
    assert SendPlan("tg", "777", TemplateMessage("promo_tg", "en", ())) == planner.plan(contact(TG), NOW)


def test_template_mode_ignores_messaging_windows() -> None:
    planner = template_planner(PROMO_WA)
    assert isinstance(planner.plan(contact(WA_NEVER, first_name="Ada"), NOW), SendPlan)


def test_route_params_come_from_fields_with_name_and_id_built_in() -> None:
    route = TemplateRoute("tg", "t", language="es", params=("name", "id", "points", "vip"))
    planned = template_planner(route).plan(contact(TG, points=42, vip=True), NOW)
    assert SendPlan("tg", "777", TemplateMessage("t", "es", ("Ada", "c1", "42", "True"))) == planned


def test_a_field_overrides_the_built_in_name() -> None:
    route = TemplateRoute("tg", "t", params=("name",))
    ada = Contact("c1", name="Ada L.", fields={"name": "Ada"}, chats=[TG])
    planned = template_planner(route).plan(ada, NOW)
    assert ("Ada",) == planned.message.params  # type: ignore[union-attr]


@pytest.mark.parametrize("fields", [{}, {"first_name": ""}, {"first_name": None}], ids=["absent", "empty", "none"])
def test_missing_route_field_skips(fields: dict[str, Any]) -> None:
    assert Skip(Status.MISSING_REQUIRED_FIELD, "wa") == template_planner(PROMO_WA).plan(contact(WA, **fields), NOW)


def test_missing_built_in_name_skips() -> None:
    route = TemplateRoute("tg", "t", params=("name",))
    assert Skip(Status.MISSING_REQUIRED_FIELD, "tg") == template_planner(route).plan(contact(TG, name=""), NOW)


def test_missing_field_on_one_route_falls_through_to_the_next() -> None:
    planner = template_planner(PROMO_WA, PROMO_TG)
    assert SendPlan("tg", "777", TemplateMessage("promo_tg", "en", ())) == planner.plan(contact(WA, TG), NOW)


def test_when_conditions_pick_the_route() -> None:
    planner = template_planner(
        TemplateRoute("wa", "promo_es", language="es", when='language = "es"'),
        TemplateRoute("wa", "promo_en"),
    )
    spanish = planner.plan(contact(WA, language="es"), NOW)
    other = planner.plan(contact(WA, language="de"), NOW)
    assert SendPlan("wa", "+4790000001", TemplateMessage("promo_es", "es", ())) == spanish
    assert SendPlan("wa", "+4790000001", TemplateMessage("promo_en", "en", ())) == other


def test_no_route_condition_matches() -> None:
    planner = template_planner(TemplateRoute("wa", "promo_es", when='language = "es"'))
    assert Skip(Status.NO_MATCHING_TEMPLATE_ROUTE, "wa") == planner.plan(contact(WA, language="de"), NOW)


def test_missing_field_outranks_no_matching_route() -> None:
    planner = template_planner(
        TemplateRoute("wa", "promo_es", when='language = "es"'), TemplateRoute("tg", "t", params=("first_name",))
    )
    assert Skip(Status.MISSING_REQUIRED_FIELD, "tg") == planner.plan(contact(WA, TG, language="de"), NOW)


def test_channel_mismatch_when_no_chat_is_on_a_route_integration() -> None:
    planner = template_planner(PROMO_WA, PROMO_TG)
    assert Skip(Status.CHANNEL_MISMATCH, "vb") == planner.plan(contact(VB), NOW)


def test_a_route_on_an_integration_without_a_plugin_is_a_mismatch() -> None:
    planner = template_planner(PROMO_TG, channels={"wa": _WA})
    assert Skip(Status.CHANNEL_MISMATCH, "tg") == planner.plan(contact(TG), NOW)


def test_a_bad_when_fails_at_set_up() -> None:
    with pytest.raises(FilterSyntaxError):
        template_planner(TemplateRoute("wa", "t", when="language = "))


# -- flow mode -------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", [None, Flow("f1", published=False)], ids=["gone", "unpublished"])
def test_unpublished_flow(flow: Flow | None) -> None:
    assert Skip(Status.FLOW_UNPUBLISHED, "wa") == flow_planner(flow).plan(contact(WA, TG), NOW)


def test_flow_required_fields() -> None:
    planner = flow_planner(Flow("f1", first_card=HELLO, required_fields=("city", "name")))
    assert Skip(Status.MISSING_REQUIRED_FIELD, "tg") == planner.plan(contact(TG, WA), NOW)
    assert Skip(Status.MISSING_REQUIRED_FIELD, "tg") == planner.plan(contact(TG, city="Oslo", name=""), NOW)
    assert SendPlan("tg", "777", TextMessage("Hello!")) == planner.plan(contact(TG, city="Oslo"), NOW)


def test_open_window_sends_the_text() -> None:
    fallbacks = (FallbackTemplate("wa", "reopen"),)
    assert SendPlan("wa", "+4790000001", TextMessage("Hello!")) == flow_planner(fallbacks=fallbacks).plan(
        contact(WA), NOW
    )


def test_the_window_boundary() -> None:
    fallbacks = (FallbackTemplate("wa", "reopen"),)
    planner = flow_planner(fallbacks=fallbacks)
    just_open = Chat("wa", "+47", last_inbound_at=NOW - DAY + 1)
    just_closed = Chat("wa", "+47", last_inbound_at=NOW - DAY)
    assert not planner.plan(contact(just_open), NOW).used_fallback  # type: ignore[union-attr]
    assert planner.plan(contact(just_closed), NOW).used_fallback  # type: ignore[union-attr]


@pytest.mark.parametrize("chat", [WA_CLOSED, WA_NEVER], ids=["closed", "never-wrote"])
def test_closed_window_uses_the_fallback_template(chat: Chat) -> None:
    fallbacks = (FallbackTemplate("wa", "reopen", language="nb", params=("first_name",)),)
    expected = SendPlan("wa", "+4790000001", TemplateMessage("reopen", "nb", ("Ada",)), used_fallback=True)
    assert expected == flow_planner(fallbacks=fallbacks).plan(contact(chat, first_name="Ada"), NOW)


def test_the_first_fallback_per_integration_wins() -> None:
    fallbacks = (FallbackTemplate("wa", "first"), FallbackTemplate("wa", "second"))
    planned = flow_planner(fallbacks=fallbacks).plan(contact(WA_CLOSED), NOW)
    assert TemplateMessage("first") == planned.message  # type: ignore[union-attr]


def test_fallback_with_a_missing_field_skips() -> None:
    fallbacks = (FallbackTemplate("wa", "reopen", params=("first_name",)),)
    assert Skip(Status.MISSING_REQUIRED_FIELD, "wa") == flow_planner(fallbacks=fallbacks).plan(contact(WA_CLOSED), NOW)


def test_closed_window_without_fallbacks_sends_the_text_anyway() -> None:
    # The provider then answers 131047: the seed's signal to configure a fallback.
    assert SendPlan("wa", "+4790000001", TextMessage("Hello!")) == flow_planner().plan(contact(WA_CLOSED), NOW)


def test_closed_window_with_fallbacks_only_elsewhere_is_a_mismatch() -> None:
    fallbacks = (FallbackTemplate("wa2", "reopen"),)
    assert Skip(Status.CHANNEL_MISMATCH, "wa") == flow_planner(fallbacks=fallbacks).plan(contact(WA_CLOSED), NOW)


def test_closed_window_falls_back_on_whichever_chat_has_a_fallback() -> None:
    fallbacks = (FallbackTemplate("wa2", "reopen"),)
    expected = SendPlan("wa2", "+4790000002", TemplateMessage("reopen"), used_fallback=True)
    assert expected == flow_planner(fallbacks=fallbacks).plan(contact(WA_CLOSED, WA2_CLOSED), NOW)


def test_an_open_window_anywhere_beats_a_fallback() -> None:
    fallbacks = (FallbackTemplate("wa", "reopen"),)
    assert SendPlan("tg", "777", TextMessage("Hello!")) == flow_planner(fallbacks=fallbacks).plan(
        contact(WA_CLOSED, TG), NOW
    )


def test_template_card_goes_to_the_first_chat_that_takes_templates() -> None:
    flow = Flow("f1", first_card=TemplateCard("welcome", language="de", params=("first_name",)))
    expected = SendPlan("wa", "+4790000001", TemplateMessage("welcome", "de", ("Ada",)))
    assert expected == flow_planner(flow).plan(contact(TG, WA_CLOSED, first_name="Ada"), NOW)
    assert Skip(Status.MISSING_REQUIRED_FIELD, "wa") == flow_planner(flow).plan(contact(TG, WA_CLOSED), NOW)
    assert Skip(Status.CHANNEL_MISMATCH, "tg") == flow_planner(flow).plan(contact(TG, VB), NOW)


def test_channels_preference_order_beats_chat_order() -> None:
    planner = flow_planner(prefer=("wa", "tg"))
    assert SendPlan("wa", "+4790000001", TextMessage("Hello!")) == planner.plan(contact(TG, WA), NOW)
    assert SendPlan("tg", "777", TextMessage("Hello!")) == flow_planner(prefer=("tg", "wa")).plan(contact(WA, TG), NOW)


def test_without_a_preference_chat_order_decides() -> None:
    assert SendPlan("tg", "777", TextMessage("Hello!")) == flow_planner().plan(contact(TG, WA), NOW)


def test_chats_outside_the_preferred_channels_are_a_mismatch() -> None:
    assert Skip(Status.CHANNEL_MISMATCH, "vb") == flow_planner(prefer=("wa", "tg")).plan(contact(VB), NOW)


def test_chats_on_integrations_without_a_plugin_are_a_mismatch() -> None:
    planner = flow_planner(channels={"tg": CHANNELS["tg"]})
    assert Skip(Status.CHANNEL_MISMATCH, "vb") == planner.plan(contact(VB), NOW)


# -- a page at a time ------------------------------------------------------------------------

_chats = st.builds(
    Chat,
    st.sampled_from(["tg", "wa", "wa2", "vb", "gone"]),
    st.sampled_from(["1", "2"]),
    st.one_of(st.none(), st.sampled_from([OPEN, CLOSED, NOW - DAY, NOW - DAY + 1e-6])),
)
_contacts = st.builds(
    Contact,
    st.sampled_from(["c1", "c2"]),
    name=st.sampled_from(["", "Ada"]),
    fields=st.sampled_from([{}, {"first_name": "Ada"}]),
    opted_out=st.booleans(),
    chats=st.lists(_chats, max_size=3).map(tuple),
)
_FALLBACK = FallbackTemplate("wa", "reopen", params=("first_name",))
_planners = st.one_of(
    st.builds(
        flow_planner,
        st.sampled_from([FLOW, Flow("f1", first_card=HELLO, published=False), Flow("f1", HELLO, ("first_name",))]),
        fallbacks=st.sampled_from([(), (_FALLBACK,)]),
        prefer=st.sampled_from([(), ("wa", "tg")]),
    ),
    st.just(flow_planner(Flow("f1", first_card=TemplateCard("promo", params=("first_name",))))),
    st.just(template_planner(PROMO_WA, PROMO_TG)),
    st.just(
        Planner(
            broadcast=Broadcast(id="b1", mode=Mode.FLOW, flow_id="f1"),
            flow=FLOW,
            channels=CHANNELS,
            closed_windows={("c1", "tg"): CLOSED},
        )
    ),
)


@given(planner=_planners, contacts=st.lists(_contacts, max_size=8))
def test_decide_many_is_decide_for_each_contact(planner: Planner, contacts: list[Contact]) -> None:
    # the dispatcher plans a page with decide_many, whose shortcut must decide as decide does
    assert planner.decide_many(contacts, NOW) == [planner.decide(c, NOW) for c in contacts]

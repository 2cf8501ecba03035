"""The one cattrs converter: JSON round trips for every model, and the wire shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.errors import ReasonFormatError
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Chat,
    Contact,
    Counters,
    DispatchRow,
    FallbackTemplate,
    Flow,
    Integration,
    LifecycleEvent,
    Message,
    Mode,
    Template,
    TemplateCard,
    TemplateMessage,
    TemplateRoute,
    TextCard,
    TextMessage,
)
from broadcaster.core.outcomes import ErrorKind, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate
from broadcaster.serde import converter, dumps, loads, make_converter
from broadcaster.testing.filter_strategies import contacts

REASON = ErrorReason("whatsapp", "131047", "re_engagement_message_required")
BROADCAST = Broadcast(
    id="b1",
    name="Spring sale",
    mode=Mode.TEMPLATE,
    routes=(TemplateRoute("wa", "promo", "es", ("first_name",), 'language = "es"'), TemplateRoute("tg", "promo")),
    fallbacks=(FallbackTemplate("wa", "hello", params=("name",)),),
    channels=("wa", "tg"),
    audience=Audience(filter="city = 'Paris'"),
    run_at=1767225600.0,
    state=State.SCHEDULED,
    retry_of="b0",
    counters=Counters(10, 9, 5, 3, 1, 1.5, 2.5),
    created_at=12.25,
    cancel_requested=True,
)

EVERY_MODEL: list[tuple[Any, Any]] = [
    (Chat("wa", "123", 5.5), Chat),
    (Contact("c1", "Ada", {"age": 3, "x": None, "ok": True, "s": "é", "f": 0.1}, True, (Chat("tg", "9"),)), Contact),
    (Integration("wa", "whatsapp", {"token": "t"}), Integration),
    (TextMessage("hi"), Message),
    (TemplateMessage("promo", "es", ("Ada",)), Message),
    (Template("promo", "es", 2, "Hi {{1}}"), Template),
    (Flow("f1", "Welcome", False, TextCard("hello"), ("email",)), Flow),
    (Flow("f2", first_card=TemplateCard("promo", "en", ("name",))), Flow),
    (TemplateRoute("wa", "promo", when="a = 1"), TemplateRoute),
    (FallbackTemplate("wa", "hello"), FallbackTemplate),
    (Audience(contact_ids=("a", "b")), Audience),
    (Counters(), Counters),
    (BROADCAST, Broadcast),
    (Broadcast("b2", audience=Audience(contact_ids=())), Broadcast),
    (
        DispatchRow("b1", "c1", Status.PROVIDER_ERROR, "Ada", "wa", REASON, ErrorKind.PERMANENT_CONTACT, True, 1.0),
        DispatchRow,
    ),
    (DispatchRow("b1", "c2", Status.DELIVERED, sent_at=1.0, delivered_at=2.0, message_id="m"), DispatchRow),
    (LifecycleEvent(LifecycleEventKind.STARTED, BROADCAST, 3.0), LifecycleEvent),
    (DeliveryUpdate("wamid.1", "failed", 4.0, REASON, ErrorKind.PAYLOAD), DeliveryUpdate),
]


@pytest.mark.parametrize(("value", "cls"), EVERY_MODEL, ids=lambda v: type(v).__name__)
def test_json_round_trip(value: Any, cls: Any) -> None:
    text = dumps(value, unstructure_as=cls)
    assert value == loads(text, cls)


def test_wire_shapes() -> None:
    row = json.loads(dumps(EVERY_MODEL[14][0]))
    assert "provider_error" == row["status"]
    assert "whatsapp:131047:re_engagement_message_required" == row["error_reason"]
    assert "permanent_contact" == row["error_kind"]
    broadcast = json.loads(dumps(BROADCAST))
    assert ("template", "SCHEDULED") == (broadcast["mode"], broadcast["state"])
    assert {"type": "text", "text": "hi"} == json.loads(dumps(TextMessage("hi"), unstructure_as=Message))
    flow = json.loads(dumps(Flow("f", first_card=TemplateCard("t"))))
    assert {"type": "template", "template": "t", "language": "en", "params": []} == flow["first_card"]


def test_malformed_reason_is_rejected() -> None:
    data = converter().unstructure(EVERY_MODEL[14][0])
    data["error_reason"] = "no colon here"
    with pytest.raises(Exception) as caught:
        converter().structure(data, DispatchRow)
    reasons = [caught.value, *getattr(caught.value, "exceptions", [])]
    assert any(isinstance(error, ReasonFormatError) for error in reasons)


def test_unknown_message_tag_is_rejected() -> None:
    with pytest.raises(Exception, match="video"):
        loads('{"type": "video", "text": "x"}', Message)


def test_make_converter_builds_independent_converters() -> None:
    assert make_converter() is not make_converter()
    assert converter() is converter()


@given(contacts(contact_id=st.text(min_size=1, max_size=5)))
def test_contact_round_trip_property(contact: Contact) -> None:
    assert contact == loads(dumps(contact), Contact)

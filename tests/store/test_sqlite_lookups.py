"""Small lookups the service layer needs: one row, fallback share, explicit-audience estimate."""

from __future__ import annotations

import pytest

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, DispatchRow
from broadcaster.core.outcomes import Status
from broadcaster.store.sqlite import open_store


@pytest.fixture
def make_store(new_store):
    return lambda: _filled(new_store())


def _filled(store):
    store.upsert_contacts([Contact(f"c{i}", f"N{i}", chats=(Chat("tg", str(i)),)) for i in range(5)])
    store.create_broadcast(Broadcast(id="b", audience=Audience(filter=""), state=State.SENDING))
    return store


def test_get_row_returns_the_final_row_only(make_store):
    store = make_store()
    store.claim("b", [("c1", "tg"), ("c2", "tg")], 10.0)
    store.record([DispatchRow("b", "c1", Status.DELIVERED, "N1", "tg", used_fallback=True, recorded_at=11.0)])
    row = store.get_row("b", "c1")
    assert (row.contact_id, row.status, row.used_fallback) == ("c1", Status.DELIVERED, True)
    assert store.get_row("b", "c2") is None  # claimed, no result yet
    assert store.get_row("b", "c9") is None


def test_count_used_fallback(make_store):
    store = make_store()
    store.record(
        [
            DispatchRow("b", "c1", Status.ACCEPTED, used_fallback=True, recorded_at=1.0),
            DispatchRow("b", "c2", Status.ACCEPTED, used_fallback=False, recorded_at=1.0),
            DispatchRow("b", "c3", Status.ACCEPTED, used_fallback=True, recorded_at=1.0),
        ]
    )
    assert store.count_used_fallback("b") == 2


def test_count_existing_contacts_ignores_unknown_and_duplicate_ids(make_store):
    store = make_store()
    assert store.count_existing_contacts(["c1", "c1", "c4", "nobody"]) == 2
    assert store.count_existing_contacts([f"c{i % 5}" for i in range(2000)]) == 5
    assert store.count_existing_contacts([]) == 0


def test_a_read_only_open_of_a_missing_file_is_empty_and_leaves_nothing(tmp_path):
    path = tmp_path / "absent.db"
    store = open_store(path, create=False)
    assert store.list_broadcasts() == [] and store.count_contacts("") == 0
    store.close()
    assert not path.exists()
    open_store(path).close()  # the default creates it
    assert path.exists()


def test_used_chats_are_the_chats_claimed_sends_went_to(make_store):
    store = make_store()
    store.claim("b", [("c1", "tg", "1"), ("c2", "tg", "2"), ("c3", "tg")], 1.0)  # c3: no chat id given
    store.record([DispatchRow("b", "c4", Status.OPTED_OUT, integration="tg", recorded_at=1.0)])  # a skip: not messaged
    asked = [("tg", "1"), ("tg", "2"), ("tg", "4"), ("wa", "1"), ("tg", "1")]
    assert store.used_chats("b", asked) == frozenset({("tg", "1"), ("tg", "2")})
    assert store.used_chats("other", asked) == frozenset()
    assert store.used_chats("b", []) == frozenset()
    many = [("tg", str(i)) for i in range(1000)]
    assert store.used_chats("b", many) == frozenset({("tg", "1"), ("tg", "2")})


def test_last_recorded_at_is_the_latest_final_row_of_that_broadcast(make_store):
    store = make_store()
    assert store.last_recorded_at("b") is None
    store.claim("b", [("c1", "tg", "1")], 5.0)
    assert store.last_recorded_at("b") is None  # a claim is not a final row
    store.record([DispatchRow("b", "c2", Status.DELIVERED, recorded_at=20.0)])
    store.record([DispatchRow("b", "c1", Status.DELIVERED, recorded_at=15.0)])  # written later, older time
    assert store.last_recorded_at("b") == 15.0  # the last written, as a run writes them in time order
    store.create_broadcast(Broadcast(id="other", audience=Audience(filter=""), state=State.SENDING))
    store.record([DispatchRow("other", "c3", Status.DELIVERED, recorded_at=99.0)])
    assert store.last_recorded_at("b") == 15.0 and store.last_recorded_at("other") == 99.0


def test_failed_with_reasons_finds_the_rows_failed_for_those_reasons_only(make_store):
    from broadcaster.core.outcomes import ErrorKind
    from broadcaster.core.reasons import ErrorReason

    store = make_store()
    closed = ErrorReason("whatsapp", "131047", "re_engagement_message_required")
    blocked = ErrorReason("telegram", "403", "blocked_by_user")
    store.record(
        [
            DispatchRow("b", "c1", Status.PROVIDER_ERROR, integration="wa", error_reason=closed,
                        error_kind=ErrorKind.PERMANENT_CONTACT, recorded_at=5.0),
            DispatchRow("b", "c2", Status.PROVIDER_ERROR, integration="tg", error_reason=blocked,
                        error_kind=ErrorKind.PERMANENT_CONTACT, recorded_at=6.0),
            DispatchRow("b", "c3", Status.DELIVERED, integration="wa", recorded_at=7.0),
        ]
    )  # fmt: skip
    assert store.failed_with_reasons("b", [str(closed)]) == [("c1", "wa", 5.0)]
    assert sorted(store.failed_with_reasons("b", [str(closed), str(blocked)])) == [("c1", "wa", 5.0), ("c2", "tg", 6.0)]
    assert store.failed_with_reasons("b", []) == [] and store.failed_with_reasons("other", [str(closed)]) == []

"""The store contract: every operation, on every engine (the ``store`` fixture of conftest.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import attrs
import pytest

from broadcaster.core.errors import ConfigError, NotFound
from broadcaster.core.lifecycle import State
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Chat,
    Contact,
    Counters,
    DispatchRow,
    Flow,
    Integration,
    Template,
    TemplateCard,
    TemplateRoute,
)
from broadcaster.core.outcomes import ErrorKind, Outcome, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate
from broadcaster.store import (
    CSV_COLUMNS,
    Claim,
    ConcurrentUpdate,
    HealthStatus,
    IntegrationHealth,
    SQLStore,
    open_store,
)

BLOCKED = ErrorReason("telegram", "403", "blocked_by_user")


def people(n: int) -> list[Contact]:
    return [
        Contact(f"c{i:03d}", f"Person {i}", {"n": i, "even": i % 2 == 0}, chats=(Chat("tg", str(i)),)) for i in range(n)
    ]


def delivered(broadcast_id: str, contact_id: str, at: float = 100.0, **kw: object) -> DispatchRow:
    return DispatchRow(broadcast_id, contact_id, Status.ACCEPTED, integration="wa", sent_at=at, recorded_at=at, **kw)  # type: ignore[arg-type]


def failed(broadcast_id: str, contact_id: str, at: float = 100.0) -> DispatchRow:
    return DispatchRow(
        broadcast_id, contact_id, Status.PROVIDER_ERROR, integration="tg", error_reason=BLOCKED,
        error_kind=ErrorKind.PERMANENT_CONTACT, sent_at=at, recorded_at=at,
    )  # fmt: skip


def skipped(broadcast_id: str, contact_id: str, at: float = 100.0) -> DispatchRow:
    return DispatchRow(broadcast_id, contact_id, Status.OPTED_OUT, recorded_at=at)


# -- opening --------------------------------------------------------------------------------


def test_file_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "broadcaster.db"
    with open_store(f"sqlite:///{path}") as store:
        store.upsert_contacts(people(2))
        assert "wal" == store.engine.query("PRAGMA journal_mode")[0][0]
    assert path.exists()
    with open_store(path) as again:
        assert 2 == again.count_contacts()


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", "postgresql://nobody@127.0.0.1:1/x"])
def test_bad_store_urls(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    assert url.split("://")[0] in str(caught.value) or "names no file" in str(caught.value)
    assert "\n" not in str(caught.value)


# -- contacts ------------------------------------------------------------------------------


def test_contacts_upsert_get_count_page(store: SQLStore) -> None:
    assert 5 == store.upsert_contacts(people(5))
    ada = Contact("c001", "Ada", {"n": 1, "city": "Paris", "x": None}, True, (Chat("wa", "+33", 5.0),))
    store.upsert_contacts([ada])
    assert ada == store.get_contact("c001")
    assert 5 == store.count_contacts()
    assert 3 == store.count_contacts("even = true")
    first = store.contacts_page(after_id=None, limit=2)
    assert ["c000", "c001"] == [c.id for c in first]
    rest = store.contacts_page(after_id="c001", limit=10)
    assert ["c002", "c003", "c004"] == [c.id for c in rest]
    assert ["c002", "c004"] == [c.id for c in store.contacts_page("even = true", after_id="c000", limit=10)]


def test_unknown_contact(store: SQLStore) -> None:
    with pytest.raises(NotFound, match="no contact with id 'nope'"):
        store.get_contact("nope")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**64, [1]])
def test_unstorable_field_values_are_refused(store: SQLStore, value: object) -> None:
    with pytest.raises(ConfigError, match="contact 'c': field 'x' holds"):
        store.upsert_contacts([Contact("c", fields={"x": value})])  # type: ignore[dict-item]
    assert 0 == store.count_contacts()


# -- configuration ------------------------------------------------------------------------


def test_integrations_and_health(store: SQLStore) -> None:
    wa = Integration("wa", "whatsapp", {"token": "t"})
    store.put_integration(wa)
    store.put_integration(Integration("tg", "telegram"))
    assert wa == store.get_integration("wa")
    assert ["tg", "wa"] == [i.name for i in store.list_integrations()]
    assert store.get_integration_health("wa") is None
    health = IntegrationHealth("wa", HealthStatus.AUTH_FAILED, "401 from provider", 10.0)
    store.put_integration_health(health)
    assert health == store.get_integration_health("wa")
    roomy = IntegrationHealth("wa", HealthStatus.OK, "", 11.0, allows_more=120.0)
    store.put_integration_health(roomy)  # the provider seemed to allow more: the figure is kept
    assert roomy == store.get_integration_health("wa")
    with pytest.raises(NotFound, match="no integration named 'x'"):
        store.get_integration("x")


def test_flows_and_templates(store: SQLStore) -> None:
    flow = Flow("f1", "Welcome", True, TemplateCard("hello", params=("name",)), ("email",))
    store.put_flow(flow)
    assert flow == store.get_flow("f1")
    assert attrs.evolve(flow, published=False) == store.set_flow_published("f1", False)
    assert [attrs.evolve(flow, published=False)] == store.list_flows()
    with pytest.raises(NotFound):
        store.set_flow_published("nope", True)
    template = Template("promo", "es", 1, "Hola {{1}}")
    store.put_template("wa", template)
    store.put_template("tg", Template("promo"))
    assert template == store.get_template("wa", "promo", "es")
    assert [("wa", template)] == store.list_templates("wa")
    assert ["tg", "wa"] == [name for name, _ in store.list_templates()]
    with pytest.raises(NotFound, match="template 'promo' \\(en\\) on integration 'wa'"):
        store.get_template("wa", "promo")


# -- broadcasts -----------------------------------------------------------------------------


def broadcast(id: str, *, state: State = State.DRAFT, created_at: float = 1.0, **kw: object) -> Broadcast:
    return Broadcast(id, state=state, created_at=created_at, **kw)  # type: ignore[arg-type]


def test_broadcast_create_get_list(store: SQLStore) -> None:
    b = broadcast("b1", routes=(TemplateRoute("wa", "t"),), audience=Audience(contact_ids=("a",)), counters=Counters(7))
    assert b == store.create_broadcast(b)
    assert b == store.get_broadcast("b1")
    store.create_broadcast(broadcast("b2", state=State.SCHEDULED, created_at=2.0))
    store.create_broadcast(broadcast("b3", state=State.COMPLETED, created_at=3.0))
    assert ["b3", "b2", "b1"] == [x.id for x in store.list_broadcasts()]
    assert ["b2"] == [x.id for x in store.list_broadcasts(state=State.SCHEDULED)]
    assert ["b3"] == [x.id for x in store.list_broadcasts(limit=1)]
    with pytest.raises(ConfigError, match="a broadcast with id 'b1' already exists"):
        store.create_broadcast(b)
    with pytest.raises(NotFound) as caught:
        store.get_broadcast("zz")
    assert "no broadcast with id 'zz' — check the id; list broadcasts to see them" == str(caught.value)


def test_update_broadcast_is_compare_and_set(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b1", state=State.SCHEDULED, run_at=5.0))
    store.record([delivered("b1", "c1")])
    fired = attrs.evolve(
        store.get_broadcast("b1"), state=State.SENDING, counters=Counters(3, 4, delivered=99, started_at=6.0)
    )
    stored = store.update_broadcast(fired, expected_state=State.SCHEDULED)
    # counters of outcomes belong to record(); the rest is written
    assert Counters(3, 4, delivered=1, started_at=6.0) == stored.counters
    assert State.SENDING == stored.state
    with pytest.raises(ConcurrentUpdate) as caught:
        store.update_broadcast(attrs.evolve(fired, state=State.CANCELLED), expected_state=State.SCHEDULED)
    assert "broadcast 'b1' is SENDING, not SCHEDULED: it changed meanwhile" == caught.value.message
    assert State.SENDING == store.get_broadcast("b1").state
    with pytest.raises(NotFound):
        store.update_broadcast(broadcast("nope"), expected_state=State.DRAFT)


def test_due_retries_and_quota(store: SQLStore) -> None:
    store.create_broadcast(broadcast("d1"))
    store.create_broadcast(broadcast("s1", state=State.SCHEDULED, run_at=10.0))
    store.create_broadcast(broadcast("s2", state=State.SCHEDULED, run_at=5.0))
    store.create_broadcast(broadcast("s3", state=State.SCHEDULED, run_at=20.0, retry_of="d1", created_at=4.0))
    store.create_broadcast(broadcast("c1", state=State.COMPLETED, run_at=1.0, retry_of="d1", created_at=3.0))
    assert ["s2", "s1"] == [b.id for b in store.due_broadcasts(10.0)]
    assert [] == store.due_broadcasts(4.9)
    assert ["c1", "s3"] == [b.id for b in store.retries_of("d1")]
    assert 4 == store.count_quota()


# -- audience ----------------------------------------------------------------------------------


def test_snapshot_from_filter(store: SQLStore) -> None:
    store.upsert_contacts(people(10))
    store.create_broadcast(broadcast("b", audience=Audience(filter="even = true AND n >= 4")))
    assert 3 == store.snapshot_audience("b")
    assert 3 == store.get_broadcast("b").counters.audience_size_actual
    # contacts added after the snapshot are not members
    store.upsert_contacts([Contact("c100", fields={"even": True, "n": 100})])
    assert ["c004", "c006", "c008"] == [c.id for c in store.audience_page("b", after_id=None, limit=10)]


def test_snapshot_from_explicit_ids_keeps_existing_unique_ids(store: SQLStore) -> None:
    store.upsert_contacts(people(3))
    store.create_broadcast(broadcast("b", audience=Audience(contact_ids=("c002", "ghost", "c000", "c002"))))
    assert 2 == store.snapshot_audience("b")
    assert ["c000", "c002"] == [c.id for c in store.audience_page("b", after_id=None, limit=10)]


def test_audience_page_skips_claimed_and_recorded_members(store: SQLStore) -> None:
    store.upsert_contacts(people(6))
    store.create_broadcast(broadcast("b"))
    assert 6 == store.snapshot_audience("b")
    assert ["c000", "c001"] == [c.id for c in store.audience_page("b", after_id=None, limit=2)]
    store.claim("b", [("c000", "tg"), ("c003", "tg")], now=1.0)
    store.record([skipped("b", "c001")])
    # a restarted worker starts from the beginning and sees only what is left
    assert ["c002", "c004", "c005"] == [c.id for c in store.audience_page("b", after_id=None, limit=10)]
    assert ["c004", "c005"] == [c.id for c in store.audience_page("b", after_id="c002", limit=10)]


# -- claims and records ----------------------------------------------------------------------


def test_claim_is_unique_per_broadcast_and_contact(store: SQLStore) -> None:
    store.upsert_contacts(people(3))
    store.create_broadcast(broadcast("b"))
    assert ["c000", "c001"] == store.claim("b", [("c000", "tg"), ("c001", None)], now=5.0)
    assert ["c002"] == store.claim("b", [("c000", "wa"), ("c002", "tg")], now=6.0)
    assert [
        Claim("b", "c000", "tg", 5.0),
        Claim("b", "c001", None, 5.0),
        Claim("b", "c002", "tg", 6.0),
    ] == store.pending("b")
    assert 3 == store.engine.query("SELECT COUNT(*) FROM dispatch_rows")[0][0]


def test_record_finalises_claims_and_counts_once(store: SQLStore) -> None:
    store.upsert_contacts(people(4))
    store.create_broadcast(broadcast("b"))
    store.claim("b", [("c000", "wa"), ("c001", "tg")], now=1.0)
    assert 3 == store.record([delivered("b", "c000"), failed("b", "c001"), skipped("b", "c002")])
    assert [] == store.pending("b")
    # recording again (a retry of the write, a duplicate) changes nothing
    assert 0 == store.record([failed("b", "c000"), delivered("b", "c001"), skipped("b", "c002")])
    assert 1 == store.record([skipped("b", "c003"), skipped("b", "c003")])
    counters = store.get_broadcast("b").counters
    assert (1, 1, 2) == (counters.delivered, counters.failed, counters.skipped)
    assert {Outcome.DELIVERED: 1, Outcome.FAILED: 1, Outcome.SKIPPED: 2} == store.count_rows("b")
    assert 4 == store.engine.query("SELECT COUNT(*) FROM dispatch_rows")[0][0]
    row = store.history("b", outcome=Outcome.DELIVERED).rows[0]
    assert delivered("b", "c000", contact_name="Person 0") == row
    # a contact name missing from the row is taken from the contact at claim/insert time
    assert "Person 3" == store.history("b", search="Person 3").rows[0].contact_name


def test_failed_contact_ids_stream_in_id_order(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    ids = [f"c{i:04d}" for i in range(1203)]
    store.record([failed("b", cid) for cid in reversed(ids)] + [skipped("b", "z")])
    assert ids == list(store.failed_contact_ids("b"))
    assert [] == list(store.failed_contact_ids("other"))


# -- delivery updates ---------------------------------------------------------------------------


def test_delivery_updates_move_rows_forward_only(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    store.record([delivered("b", "c1", message_id="m1"), delivered("b", "c2", message_id="m2")])
    assert not store.apply_delivery_update("wa", DeliveryUpdate("m1", "sent", 101.0))
    assert store.apply_delivery_update("wa", DeliveryUpdate("m1", "delivered", 102.0))
    assert not store.apply_delivery_update("wa", DeliveryUpdate("m1", "delivered", 103.0))
    assert not store.apply_delivery_update("wa", DeliveryUpdate("m1", "read", 104.0))
    late = DeliveryUpdate("m1", "failed", 105.0, ErrorReason("whatsapp", "131026", "undeliverable"))
    assert not store.apply_delivery_update("wa", late)
    row = store.history("b", search="").rows
    by_id = {r.contact_id: r for r in row}
    assert (Status.DELIVERED, 102.0) == (by_id["c1"].status, by_id["c1"].delivered_at)
    assert (2, 0) == (store.get_broadcast("b").counters.delivered, store.get_broadcast("b").counters.failed)


def test_late_failure_moves_the_counter(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    store.record([delivered("b", "c1", message_id="m1")])
    reason = ErrorReason("whatsapp", "131047", "re_engagement_message_required")
    update = DeliveryUpdate("m1", "failed", 105.0, reason, ErrorKind.PERMANENT_CONTACT)
    assert store.apply_delivery_update("wa", update)
    assert not store.apply_delivery_update("wa", update)  # idempotent
    assert not store.apply_delivery_update("wa", DeliveryUpdate("m1", "delivered", 106.0))  # never backwards
    row = store.history("b").rows[0]
    assert (Status.PROVIDER_ERROR, reason, ErrorKind.PERMANENT_CONTACT) == (
        row.status,
        row.error_reason,
        row.error_kind,
    )
    counters = store.get_broadcast("b").counters
    assert (0, 1) == (counters.delivered, counters.failed)
    assert ["c1"] == list(store.failed_contact_ids("b"))


def test_delivery_update_for_unknown_message_or_other_integration(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    store.record([delivered("b", "c1", message_id="m1")])
    assert not store.apply_delivery_update("wa", DeliveryUpdate("nope", "delivered", 1.0))
    assert not store.apply_delivery_update("tg", DeliveryUpdate("m1", "delivered", 1.0))


# -- history -----------------------------------------------------------------------------------


def test_history_newest_first_paginated_filtered_searched(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    names = ["Ana", "ANABEL", "Bo_b", "100%", "Zoe"]
    for i, name in enumerate(names):
        row = failed("b", f"c{i}") if i % 2 else delivered("b", f"c{i}")
        store.record([attrs.evolve(row, contact_name=name)])
    first = store.history("b", limit=2)
    assert ["c4", "c3"] == [r.contact_id for r in first.rows]
    second = store.history("b", limit=2, cursor=first.next_cursor)
    assert ["c2", "c1"] == [r.contact_id for r in second.rows]
    last = store.history("b", limit=2, cursor=second.next_cursor)
    assert (["c0"], None) == ([r.contact_id for r in last.rows], last.next_cursor)
    assert ["c3", "c1"] == [r.contact_id for r in store.history("b", outcome=Outcome.FAILED).rows]
    assert ["c1", "c0"] == [r.contact_id for r in store.history("b", search="ana").rows]
    # LIKE wildcards in the search text are literal
    assert ["c3"] == [r.contact_id for r in store.history("b", search="%").rows]
    assert ["c2"] == [r.contact_id for r in store.history("b", search="_").rows]
    assert [] == list(store.history("other").rows)


def test_rows_after_follows_new_rows(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    store.record([delivered("b", "c1"), failed("b", "c2")])
    page = store.rows_after("b", None)
    assert ["c1", "c2"] == [r.contact_id for r in page.rows]
    assert () == store.rows_after("b", page.next_cursor).rows
    store.record([skipped("b", "c3")])
    later = store.rows_after("b", page.next_cursor)
    assert ["c3"] == [r.contact_id for r in later.rows]
    assert later.next_cursor == store.rows_after("b", later.next_cursor).next_cursor


def test_csv_export_columns_times_and_neutralisation(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    hostile = ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tTab", "\rCR", 'Plain, "quoted"']
    rows = [
        attrs.evolve(delivered("b", f"c{i}", at=1767225600.0), contact_name=name, used_fallback=i == 0)
        for i, name in enumerate(hostile)
    ]
    rows.append(attrs.evolve(failed("b", "=cmd"), delivered_at=None, sent_at=1767225600.25))
    store.record(rows)
    out = io.StringIO()
    assert 8 == store.export_csv("b", out)
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert list(CSV_COLUMNS) == table[0]
    assert ["", "'=cmd", "tg", "FAILED", "provider_error", "telegram:403:blocked_by_user", "no",
            "2026-01-01T00:00:00.250Z", ""] == table[1]  # fmt: skip
    names = [line[0] for line in reversed(table[2:])]
    assert ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "'\tTab", "'\rCR", 'Plain, "quoted"'] == names
    assert ['\'=HYPERLINK("x")', "c0", "wa", "DELIVERED", "accepted", "", "yes", "2026-01-01T00:00:00Z", ""] == table[
        -1
    ]
    failed_only = io.StringIO()
    assert 1 == store.export_csv("b", failed_only, outcome=Outcome.FAILED)


def test_csv_export_streams_many_pages(store: SQLStore) -> None:
    store.create_broadcast(broadcast("b"))
    store.record([skipped("b", f"c{i:04d}") for i in range(1100)])
    out = io.StringIO()
    assert 1100 == store.export_csv("b", out)
    assert 1101 == len(out.getvalue().splitlines())


# -- retention ----------------------------------------------------------------------------------


def test_purge_deletes_old_rows_and_keeps_counters(store: SQLStore) -> None:
    store.upsert_contacts(people(3))
    store.create_broadcast(broadcast("b", state=State.COMPLETED, counters=Counters(finished_at=50.0)))
    store.snapshot_audience("b")
    store.record([failed("b", "c000", at=10.0), delivered("b", "c001", at=200.0)])
    store.claim("b", [("c002", "tg")], now=20.0)
    assert 2 == store.purge_rows(older_than=100.0)
    assert [] == list(store.failed_contact_ids("b"))
    assert [] == store.pending("b")
    assert ["c001"] == [r.contact_id for r in store.history("b").rows]
    counters = store.get_broadcast("b").counters
    assert (1, 1) == (counters.delivered, counters.failed)
    assert 0 == store.engine.query("SELECT COUNT(*) FROM audience")[0][0]
    assert 0 == store.purge_rows(older_than=100.0)


def test_a_final_row_keeps_the_name_its_claim_recorded(store: SQLStore) -> None:
    store.upsert_contacts(people(3))
    store.create_broadcast(broadcast("b"))
    store.claim("b", [("c000", "tg"), ("c001", "tg")], now=1.0)
    # renamed after the claim: the row says whom the message went to when it was sent
    store.upsert_contacts([Contact("c000", "Renamed"), Contact("c002", "Person 2 now")])
    assert 3 == store.record(
        [
            delivered("b", "c000", contact_name="Other"),
            delivered("b", "c001"),
            skipped("b", "c002"),  # no claim, no name: the contact's, as it is now
        ]
    )
    names = {row.contact_id: row.contact_name for row in store.history("b").rows}
    assert names == {"c000": "Person 0", "c001": "Person 1", "c002": "Person 2 now"}

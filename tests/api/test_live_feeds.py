"""The subscription's shared poller: one per broadcast however many subscribe, every
subscriber gets every row once, a joiner starts from the broadcast as it is, a slow one gets
what it missed merged, and the poller stops with its last subscriber."""

from __future__ import annotations

import asyncio

import attrs

from broadcaster.api import live
from broadcaster.api.live import LiveFeeds
from broadcaster.core.lifecycle import State
from broadcaster.core.outcomes import Status
from broadcaster.service import BroadcastService
from broadcaster.store import open_store

from .conftest import finish, record, seed


def running(tmp_path):
    db = tmp_path / "b.db"
    seed(db)
    service = BroadcastService(store=open_store(db))
    b = service.create(name="Live", flow_id="f1", contact_ids=[f"c{i}" for i in range(10)])
    finish(db, b.id, {}, state=State.SENDING)
    return service, b.id


def complete(service, bid):
    b = service.store.get_broadcast(bid)
    service.store.update_broadcast(attrs.evolve(b, state=State.COMPLETED), expected_state=State.SENDING)


async def drain(stream, out: list[dict]) -> None:
    async for update in stream:
        out.append(update)


def ids(updates: list[dict]) -> list[str]:
    return [row["contact"]["id"] for update in updates for row in update["rows"]]


def test_many_subscribers_share_one_poller_and_each_gets_every_row(tmp_path):
    service, bid = running(tmp_path)
    feeds = LiveFeeds(service, poll=0.01)

    async def main() -> list[list[dict]]:
        got: list[list[dict]] = [[] for _ in range(20)]
        tasks = [asyncio.create_task(drain(feeds.updates(bid), out)) for out in got]
        await asyncio.sleep(0.05)
        assert feeds.polling() == [bid]  # twenty subscribers, one poller
        for batch in (["c0", "c1"], ["c2"], ["c3", "c4", "c5"]):
            record(service.store, bid, {cid: Status.DELIVERED for cid in batch})
            await asyncio.sleep(0.03)
        complete(service, bid)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert feeds.polling() == []
        return got

    got = asyncio.run(main())
    for updates in got:
        assert updates[0]["rows"] == [] and updates[0]["broadcast"]["state"] == "SENDING"
        assert sorted(ids(updates)) == ["c0", "c1", "c2", "c3", "c4", "c5"]
        assert len(ids(updates)) == 6  # none twice
        assert updates[-1]["broadcast"]["state"] == "COMPLETED"

    # the views are built once and shared, not once per subscriber
    def first_row(updates: list[dict]) -> dict:
        return next(update["rows"][0] for update in updates if update["rows"])

    assert first_row(got[0]) is first_row(got[19])


def test_a_joiner_starts_from_the_broadcast_as_it_is_and_gets_only_later_rows(tmp_path):
    service, bid = running(tmp_path)
    feeds = LiveFeeds(service, poll=0.01)

    async def main() -> tuple[list[dict], list[dict]]:
        early: list[dict] = []
        late: list[dict] = []
        first = asyncio.create_task(drain(feeds.updates(bid), early))
        await asyncio.sleep(0.03)
        record(service.store, bid, {"c0": Status.DELIVERED})
        await asyncio.sleep(0.05)
        second = asyncio.create_task(drain(feeds.updates(bid), late))
        await asyncio.sleep(0.03)
        record(service.store, bid, {"c1": Status.DELIVERED})
        await asyncio.sleep(0.05)
        complete(service, bid)
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        return early, late

    early, late = asyncio.run(main())
    assert ids(early) == ["c0", "c1"]
    assert late[0]["rows"] == [] and late[0]["broadcast"]["delivered"] == 1
    assert ids(late) == ["c1"]


def test_a_slow_subscriber_gets_what_it_missed_merged_newest_first(tmp_path):
    service, bid = running(tmp_path)
    feeds = LiveFeeds(service, poll=0.01)

    async def main() -> list[dict]:
        stream = feeds.updates(bid)
        first = await stream.__anext__()
        assert first["rows"] == []
        for cid in ("c0", "c1", "c2"):  # three polls' worth while the subscriber is away
            record(service.store, bid, {cid: Status.DELIVERED})
            await asyncio.sleep(0.05)
        merged = await stream.__anext__()
        await stream.aclose()
        await asyncio.sleep(0.02)
        assert feeds.polling() == []  # the last subscriber left: the poller stopped
        return [merged]

    (merged,) = asyncio.run(main())
    assert ids([merged]) == ["c2", "c1", "c0"]
    assert merged["broadcast"]["delivered"] == 3


def test_a_subscriber_too_far_behind_is_ended_with_an_error(tmp_path, monkeypatch):
    service, bid = running(tmp_path)
    monkeypatch.setattr(live, "MAX_PENDING_ROWS", 2)
    feeds = LiveFeeds(service, poll=0.01)

    async def main() -> str:
        stream = feeds.updates(bid)
        await stream.__anext__()
        record(service.store, bid, {cid: Status.DELIVERED for cid in ("c0", "c1", "c2")})
        await asyncio.sleep(0.05)
        try:
            await stream.__anext__()
        except Exception as exc:  # noqa: BLE001 - the error the client will see
            return str(exc)
        return "no error"

    message = asyncio.run(main())
    assert "fell more than 2 rows behind" in message


SUBSCRIBE = """subscription S($id: ID!) { broadcastUpdates(broadcastId: $id) {
  rows { contact { id } status } broadcast { state delivered } } }"""


def test_subscribers_sending_the_same_document_share_each_result(tmp_path):
    from broadcaster.api.operations import Executor, Request
    from broadcaster.store.tokens_sql import ApiToken, Scope

    service, bid = running(tmp_path)
    executor = Executor(service, poll=0.01)
    token = ApiToken("ops", Scope.READ, "0" * 64, created_at=0.0)
    same = Request(SUBSCRIBE, {"id": bid})
    other = Request(SUBSCRIBE.replace("status }", "status sentAt }"), {"id": bid})

    async def main() -> list[list[dict]]:
        got: list[list[dict]] = [[] for _ in range(4)]
        requests = [same, same, same, other]
        tasks = [
            asyncio.create_task(drain(executor.stream(r, token), out)) for r, out in zip(requests, got, strict=True)
        ]
        await asyncio.sleep(0.05)
        record(service.store, bid, {"c0": Status.DELIVERED, "c1": Status.DELIVERED})
        await asyncio.sleep(0.05)
        complete(service, bid)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return got

    got = asyncio.run(main())
    with_rows = [next(r for r in results if r["data"]["broadcastUpdates"]["rows"]) for results in got]
    assert with_rows[0] is with_rows[1] is with_rows[2]  # one execution for the three
    assert with_rows[3] is not with_rows[0]  # another document is executed for itself
    assert [row["contact"]["id"] for row in with_rows[0]["data"]["broadcastUpdates"]["rows"]] == ["c1", "c0"]
    assert "sentAt" in with_rows[3]["data"]["broadcastUpdates"]["rows"][0]
    assert all(results[-1]["data"]["broadcastUpdates"]["broadcast"]["state"] == "COMPLETED" for results in got)

"""A tiny synchronous driver for the dispatcher, for tests: pages from a list, replies
from a function, virtual time advanced to each deadline.

It keeps the store's claims as a shell would (a Send claims, ReleaseClaims and a row
end the claim) and checks after every step that exactly the contacts in flight hold
one: a contact waiting out a backoff, or left by a stop, is never claimed."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from broadcaster.core.channels import ChannelSpec, DeliveryConfirmation, MessageKind
from broadcaster.core.dispatcher import Dispatcher
from broadcaster.core.events import (
    Finished,
    LoadPage,
    PageLoaded,
    RecordRows,
    ReleaseClaims,
    Send,
    SendBatch,
    SendCompleted,
    Stopped,
    TimerFired,
)
from broadcaster.core.models import Broadcast, Contact, DispatchRow, Flow
from broadcaster.core.results import SendResult

TELEGRAM = ChannelSpec("telegram", rate_per_second=1000.0, burst=1000)
WHATSAPP = ChannelSpec(
    "whatsapp",
    kinds={MessageKind.TEXT, MessageKind.TEMPLATE},
    window_seconds=86_400,
    confirmation=DeliveryConfirmation.CALLBACK,
    rate_per_second=1000.0,
    burst=1000,
)

Reply = Callable[[Send, float], "SendResult | tuple[float, SendResult]"]


class Run:
    """Drives one broadcast to completion; replies may carry a latency."""

    def __init__(
        self,
        broadcast: Broadcast,
        contacts: Sequence[Contact],
        reply: Reply,
        *,
        flow: Flow | None = None,
        channels: dict[str, ChannelSpec] | None = None,
        seed: int = 0,
        now: float = 1_000_000.0,
        **options: object,
    ) -> None:
        self.contacts = sorted(contacts, key=lambda c: c.id)
        self.reply = reply
        self.now = now
        self.rows: list[DispatchRow] = []
        self.sends: list[Send] = []
        #: the SendBatch actions (their sends are in ``sends`` too)
        self.requests: list[SendBatch] = []
        self.finished: Finished | None = None
        self.stopped: Stopped | None = None
        #: contacts holding a claim (pending row) now, and every ReleaseClaims id in order
        self.claims: set[str] = set()
        self.released: list[str] = []
        self.pending_pages: list[LoadPage] = []
        self.pending_replies: list[tuple[float, int, Send, SendResult]] = []
        self.max_in_flight = 0
        self._seq = 0
        self._rows_per_record = options.get("rows_per_record", 1)
        self.dispatcher = Dispatcher(
            broadcast=broadcast,
            flow=flow,
            channels=channels or {"tg": TELEGRAM, "wa": WHATSAPP},
            now=now,
            rng=random.Random(seed),
            **options,  # type: ignore[arg-type]
        )
        self.perform(self.dispatcher.actions())

    def perform(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, LoadPage):
                self.pending_pages.append(action)
            elif isinstance(action, Send):
                self._send(action)
            elif isinstance(action, SendBatch):
                self.requests.append(action)
                for send in action.sends:
                    self._send(send)
            elif isinstance(action, RecordRows):
                self.rows.extend(action.rows)
                self.claims.difference_update(row.contact_id for row in action.rows)
            elif isinstance(action, ReleaseClaims):
                for contact_id in action.contact_ids:
                    assert contact_id in self.claims, f"released {contact_id}, which holds no claim"
                    self.claims.discard(contact_id)
                    self.released.append(contact_id)
            elif isinstance(action, Finished):
                self.finished = action
            elif isinstance(action, Stopped):
                self.stopped = action
        self.max_in_flight = max(self.max_in_flight, self.dispatcher.requests_in_flight)
        # (rows held back by rows_per_record > 1 keep their claims a little longer)
        exact = self._rows_per_record == 1
        assert len(self.claims) == self.dispatcher.in_flight or (
            not exact and len(self.claims) > self.dispatcher.in_flight
        ), (sorted(self.claims), self.dispatcher.in_flight)

    def _send(self, send: Send) -> None:
        assert send.contact_id not in self.claims, f"{send.contact_id} sent while it already holds a claim"
        self.claims.add(send.contact_id)
        self.sends.append(send)
        answer = self.reply(send, self.now)
        latency, result = answer if isinstance(answer, tuple) else (0.0, answer)
        self._seq += 1
        self.pending_replies.append((self.now + latency, self._seq, send, result))

    def page(self, load: LoadPage) -> PageLoaded:
        after = [c for c in self.contacts if load.after_id is None or c.id > load.after_id]
        chunk = after[: load.limit]
        return PageLoaded(tuple(chunk), exhausted=len(after) <= load.limit)

    def step(self, *, before: Callable[[Run], None] | None = None) -> bool:
        d = self.dispatcher
        if d.finished:
            return False
        if self.pending_pages:
            load = self.pending_pages.pop(0)
            self.perform(d.handle(self.page(load), now=self.now))
            return True
        candidates = []
        if self.pending_replies:
            candidates.append(min(self.pending_replies)[0])
        deadline = d.next_deadline()
        if deadline is not None:
            candidates.append(deadline)
        if not candidates:
            raise AssertionError("dispatcher is stuck: nothing pending and no deadline")
        at = min(candidates)
        self.now = max(self.now, at)
        due = [r for r in self.pending_replies if r[0] <= self.now]
        if due:
            first = min(due)
            self.pending_replies.remove(first)
            self.perform(d.handle(SendCompleted(first[2].contact_id, first[3]), now=self.now))
        else:
            self.perform(d.handle(TimerFired(), now=self.now))
        return True

    def run(self, *, max_steps: int = 1_000_000) -> Run:
        for _ in range(max_steps):
            if not self.step():
                return self
        raise AssertionError("dispatcher did not finish")

    def by_contact(self) -> dict[str, DispatchRow]:
        return {row.contact_id: row for row in self.rows}

"""The discrete-event driver: the pure Dispatcher against simulated providers, on a
virtual clock, with no trio and no real time.

Events are the providers' replies (a heap ordered by time, then by issue order) and the
dispatcher's own deadlines; pages are answered at once. Every contact goes through the
real Dispatcher. After the run, the retry chain is built with the core's own rules
(:func:`check_retry_eligible`, :func:`plan_retry`) from the FAILED rows, until none are
left, only systemic ones remain, or the policy's retries are spent.

Same scenario + same seed => the same sequence of draws => the same report, byte for byte.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import random
from typing import Iterator, Sequence

import attrs

from broadcaster.core.channels import ChannelSpec
from broadcaster.core.dispatcher import Dispatcher
from broadcaster.core.events import Finished, LoadPage, RecordRows, Send, SendBatch, TimerFired
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Counters, Flow, Mode, TemplateCard, TextCard, TextMessage
from broadcaster.core.ratelimit import DEFAULT_WARMUP
from broadcaster.core.retry import check_retry_eligible, plan_retry

from .audience import AudienceGenerator, contact_id
from .draws import derive_key
from .failures import SimulatedProvider, Verdict
from .fastpath import ResultTable
from .model import RetryUntil, Scenario
from .specs import SIM_SPECS
from .tally import RunTally, Timeline

__all__ = ["SimulationResult", "simulate"]

#: a guard against a dispatcher that neither finishes nor asks for anything
_MAX_IDLE_STEPS = 1_000

_ACCEPTED = Verdict.ACCEPTED

_ROWS_PER_RECORD = 512

#: a value with no fields: one serves every deadline (a paced run has one per few contacts)
_TIMER_FIRED = TimerFired()


@attrs.frozen
class SimulationResult:
    scenario: Scenario
    seed: int
    attempts: tuple[RunTally, ...]
    timeline: Timeline

    @property
    def original(self) -> RunTally:
        return self.attempts[0]


class _World:
    """What stays alive across the retry chain: the RNG, the providers, the audience."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.key = derive_key(self.rng)
        self.start = scenario.start
        providers = {name: b.provider for name, b in scenario.providers.items()}
        self.channels: dict[str, ChannelSpec] = {name: SIM_SPECS[p] for name, p in providers.items()}
        self.audience = AudienceGenerator(
            scenario.audience, key=self.key, start=self.start, providers=providers, specs=SIM_SPECS
        )
        self.providers: dict[str, SimulatedProvider] = {}
        self.tables: dict[str, ResultTable] = {}
        closes_windows = scenario.audience.closed_window > 0
        for name, behaviour in scenario.providers.items():
            windowed = closes_windows and self.channels[name].window_seconds is not None
            self.providers[name] = SimulatedProvider(
                behaviour, rng=self.rng, key=self.key, window_closed=self.audience.window_closed if windowed else None
            )
            self.tables[name] = ResultTable(integration=name, provider=behaviour.provider)
        self.rates = {name: b.send_rate for name, b in scenario.providers.items() if b.send_rate is not None}
        spec = scenario.broadcast
        self.flow: Flow | None = None
        if spec.mode is Mode.FLOW:
            if spec.first_template is not None:
                name, language, params = spec.first_template
                card: TextCard | TemplateCard = TemplateCard(name, language, params)
            else:
                card = TextCard(spec.text)
            self.flow = Flow(id="flow-1", name=spec.name, first_card=card, required_fields=spec.required_fields)
        self.timeline = Timeline(self.start)


def _run(world: _World, broadcast: Broadcast, ids: Sequence[str] | None, at: float, tally: RunTally) -> None:
    spec = world.scenario.broadcast
    start = world.start
    audience = world.audience
    now = at
    tally.started_at = at - start
    dispatcher = Dispatcher(
        broadcast=broadcast,
        flow=world.flow,
        channels=world.channels,
        now=now,
        rng=world.rng,
        pacing=spec.pacing,
        backoff=spec.backoff,
        rates=world.rates,
        # the tally reads each row's own times, so rows can wait to be counted in bulk
        rows_per_record=_ROWS_PER_RECORD,
        # as the runtime's buckets do (its connections start cold; decisions should match)
        warmup=DEFAULT_WARMUP,
    )
    handle = dispatcher.handle
    complete = dispatcher.complete
    next_deadline = dispatcher.next_deadline
    # per integration: its model's decide, its verdict -> result table, and the shared
    # result of an accepted request (the common answer, looked up without hashing)
    routes = {
        name: (provider.decide, world.tables[name].result, world.tables[name].result(Verdict.ACCEPTED))
        for name, provider in world.providers.items()
    }
    heap: list[tuple[float, int, str, object]] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = 0
    pending: LoadPage | None = None
    finished = False
    answered = tally.answered
    count_rows = tally.rows
    actions = dispatcher.actions()
    idle = 0
    while True:
        for action in actions:
            kind = type(action)
            if kind is Send:
                cid = action.contact_id  # type: ignore[union-attr]
                decide, result_of, accepted = routes[action.integration]  # type: ignore[union-attr]
                verdict, latency, hint = decide(int(cid[1:]), now - start, text=type(action.message) is TextMessage)  # type: ignore[union-attr]
                answered(verdict, now)
                seq += 1
                push(heap, (now + latency, seq, cid, accepted if verdict is _ACCEPTED else result_of(verdict, hint)))
            elif kind is SendBatch:
                seq = _send_batch(action, world, now, tally, heap, seq)  # type: ignore[arg-type]
            elif kind is RecordRows:
                count_rows(action.rows)  # type: ignore[union-attr]
            elif kind is LoadPage:
                pending = action  # type: ignore[assignment]
            elif kind is Finished:
                finished = True
        if finished:
            break
        if pending is not None:
            page = audience.page(pending.after_id, pending.limit, ids=ids)
            tally.targeted += len(page.contacts)
            pending = None
            actions = handle(page, now=now)
            continue
        deadline = next_deadline()
        if heap and (deadline is None or heap[0][0] <= deadline):
            when, _, cid, result = pop(heap)
            if when > now:
                now = when
            actions = complete(cid, result, now=now)  # type: ignore[arg-type]
            idle = 0
        elif deadline is not None:
            # A deadline at or before now (float rounding in a token bucket) must still move time.
            now = deadline if deadline > now else now + 1e-6
            actions = handle(_TIMER_FIRED, now=now)
            idle += 1
            if idle > _MAX_IDLE_STEPS and not actions:
                raise RuntimeError(f"the dispatcher of {broadcast.id} made no progress in {idle} timer steps")
        else:
            raise RuntimeError(f"the dispatcher of {broadcast.id} is stuck: nothing in flight and no deadline")
    stats = dispatcher.stats
    tally.rate_limit_retries = stats.rate_limit_retries
    tally.rerouted = stats.rerouted
    tally.exhausted_batches = stats.exhausted_batches
    tally.finished_at = now - start


def _send_batch(
    action: SendBatch, world: _World, now: float, tally: RunTally, heap: list[tuple[float, int, str, object]], seq: int
) -> int:
    """One request for many recipients: the provider answers the request as a whole (an
    outage, its rate limit) or each recipient; every contact's result comes back at once."""
    sends = action.sends
    table = world.tables[action.integration]
    verdict, latency, hint, verdicts = world.providers[action.integration].decide_batch(
        [int(s.contact_id[1:]) for s in sends], now - world.start, text=type(action.message) is TextMessage
    )
    tally.answered_batch(verdict, verdicts, len(sends), now)
    if verdict is not None:
        result = table.request_result(verdict, hint)
        for send in sends:
            seq += 1
            heapq.heappush(heap, (now + latency, seq, send.contact_id, result))
        return seq
    for send, each in zip(sends, verdicts, strict=True):
        seq += 1
        heapq.heappush(heap, (now + latency, seq, send.contact_id, table.result(each)))
    return seq


def _should_retry(scenario: Scenario, tally: RunTally, done: int) -> bool:
    policy = scenario.retry
    if policy is None or tally.failed == 0 or done >= policy.max_retries:
        return False
    if policy.until is RetryUntil.ONLY_SYSTEMIC and tally.failed_retryable == 0:
        return False
    return True


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector for a run, as :mod:`timeit` does.

    A run allocates a few objects per contact (contact, send, row, heap entry) and frees
    each by reference counting: it makes no reference cycles (a 300 000-contact run
    leaves nothing for ``gc.collect()``), so the collector's passes over the young
    objects, about 6 % of a run, find nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def simulate(scenario: Scenario, *, seed: int | None = None) -> SimulationResult:
    """Run the scenario's broadcast, then its retry chain; return what happened."""
    with _no_cycle_collection():
        return _simulate(scenario, seed=seed)


def _simulate(scenario: Scenario, *, seed: int | None) -> SimulationResult:
    seed = scenario.seed if seed is None else seed
    world = _World(scenario, seed)
    spec = scenario.broadcast
    keep_failed = scenario.retry is not None
    broadcast = Broadcast(
        id="sim-1",
        name=spec.name,
        mode=spec.mode,
        flow_id="flow-1" if world.flow is not None else None,
        routes=spec.routes,
        fallbacks=spec.fallbacks,
        channels=spec.channels,
        audience=Audience(filter=""),
        run_at=world.start,
        state=State.SENDING,
        created_at=world.start,
    )
    at = world.start
    ids: Sequence[str] | None = None
    attempts: list[RunTally] = []
    while True:
        tally = RunTally(
            attempt=len(attempts) + 1, broadcast_id=broadcast.id, timeline=world.timeline, keep_failed=keep_failed
        )
        _run(world, broadcast, ids, at, tally)
        attempts.append(tally)
        finished_at = world.start + tally.finished_at
        broadcast = attrs.evolve(
            broadcast,
            state=State.COMPLETED,
            counters=Counters(
                audience_size_estimate=broadcast.counters.audience_size_estimate,
                audience_size_actual=tally.targeted,
                delivered=tally.delivered,
                failed=tally.failed,
                skipped=tally.skipped,
                started_at=world.start + tally.started_at,
                finished_at=finished_at,
            ),
        )
        if not _should_retry(scenario, tally, len(attempts) - 1):
            break
        assert scenario.retry is not None and tally.failed_indexes is not None
        check_retry_eligible(broadcast, failed_rows=tally.failed, now=finished_at)
        failed_ids = [contact_id(i) for i in sorted(tally.failed_indexes)]
        tally.failed_indexes = None
        retry = plan_retry(
            broadcast,
            new_id=f"sim-{len(attempts) + 1}",
            failed_contact_ids=failed_ids,
            now=finished_at,
            run_at=finished_at + scenario.retry.delay,
        )
        ids = sorted(retry.audience.contact_ids or ())
        broadcast = attrs.evolve(retry, state=State.SENDING)
        at = retry.run_at if retry.run_at is not None else finished_at
    return SimulationResult(scenario=scenario, seed=seed, attempts=tuple(attempts), timeline=world.timeline)

"""``broadcaster rehearse``: a scenario run through the real engine on a virtual clock.

``broadcaster simulate`` runs the pure core against simulated providers with no store
and no trio. A rehearsal exercises everything else: the scenario's audience is written
into a real SQLite store as contacts, its integrations are added through the
:class:`~broadcaster.service.BroadcastService` (the real provider plugins, loaded from
their entry points, with dummy tokens and a ``base_url`` on the fake servers), the
broadcast is created through the service and run by the real trio worker
(:func:`~broadcaster.runtime.serve.run_worker`) through the real HTTP executor, whose
transport is the simulator's fake servers answering in each provider's wire format.
The scenario's retry policy is applied with ``service.retry`` and another run.

Everything runs on trio's ``MockClock`` with ``autojump_threshold=0``: whenever every
task waits, virtual time jumps to the next deadline, so a run that takes ten minutes of
broadcast time takes seconds of wall time. The :class:`~broadcaster.runtime.context.WallClock`
is pinned to the scenario's start, so the fakes' timelines (offsets from the start) and
the contacts' messaging windows line up with the store's timestamps.

The report is read back from the store (counters, rows, lineage), plus what the fake
servers saw, plus invariant checks a correct engine always passes.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import sqlite3
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import attrs
import httpx
import trio
import trio.testing

from broadcaster.core.errors import ConfigError
from broadcaster.core.lifecycle import TERMINAL_STATES
from broadcaster.core.models import FallbackTemplate, Flow, Mode, Template, TemplateCard, TemplateRoute, TextCard
from broadcaster.core.outcomes import RETRYABLE_KINDS, Outcome
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.context import Runtime, WallClock
from broadcaster.runtime.http import HttpExecutor
from broadcaster.runtime.serve import run_worker
from broadcaster.runtime.stopping import StopWatch
from broadcaster.service import BroadcastService
from broadcaster.store import SQLStore, open_store

from .audience import AudienceGenerator
from .draws import derive_key
from .fakes import FakeProvider
from .model import RetryUntil, Scenario
from .report import format_clock, format_pct, render_json, scenario_summary, share, text_table
from .specs import SIM_SPECS, fake_for

__all__ = [
    "DEFAULT_STORE",
    "RehearsalResult",
    "build_rehearsal_report",
    "prepare_store",
    "rehearse",
    "render_json",
    "render_rehearsal_text",
]

#: where a rehearsal writes unless told otherwise; replaced on each run
DEFAULT_STORE = Path("rehearsal.db")

#: every integration's base_url lives under this (reserved, never resolvable) domain; it
#: is also how a store is recognised as a rehearsal's, and so safe to replace
_FAKE_DOMAIN = "rehearsal.invalid"

#: contacts written per transaction
_CONTACT_PAGE = 1_000
#: rows read per query when the report walks a broadcast's history
_ROW_PAGE = 1_000
#: error reasons shown per attempt
TOP_REASONS = 10
#: a retry's run-at, converted to trio's clock and back, may land a few ulps early
_WAKE_SLACK = 1e-3


@attrs.frozen
class RehearsalResult:
    """What a rehearsal leaves behind: the store it wrote and the fakes it talked to."""

    scenario: Scenario
    seed: int
    store_path: Path
    #: the original broadcast, then each retry, in order
    broadcast_ids: tuple[str, ...]
    #: integration -> its fake server (what it accepted, how often it was asked)
    fakes: Mapping[str, FakeProvider]
    wall_seconds: float
    #: warnings the runtime logged (each transport failure is one)
    runtime_warnings: int


# -- the store ------------------------------------------------------------------------------------


def _is_rehearsal_store(path: Path) -> bool:
    """Whether ``path`` is a SQLite store whose every integration points at the fakes.

    Read-only: a file that is not ours is never opened for writing (a store migration
    or a journal would change it).
    """
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        bodies = [row[0] for row in conn.execute("SELECT body FROM integrations")]
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    if not bodies:
        return False
    for body in bodies:
        try:
            settings = json.loads(body).get("settings") or {}
        except (ValueError, AttributeError):
            return False
        host = urlsplit(str(settings.get("base_url", ""))).hostname or ""
        if not host.endswith("." + _FAKE_DOMAIN):
            return False
    return True


def prepare_store(path: Path) -> SQLStore:
    """A new, empty store at ``path``; a previous rehearsal's store there is replaced.

    Refuses (ConfigError) to replace anything else, so ``--store`` can never wipe a real
    store by mistake.
    """
    if path.exists() and not (path.is_file() and path.stat().st_size == 0):
        if not path.is_file() or not _is_rehearsal_store(path):
            raise ConfigError(
                f"{path} exists and is not a rehearsal's store; a rehearsal never replaces it",
                hint="give --store a new path (or the store of an earlier rehearsal)",
            )
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return open_store(path)


def _write_audience(store: SQLStore, audience: AudienceGenerator, size: int) -> None:
    after: str | None = None
    written = 0
    while written < size:
        page = audience.page(after, _CONTACT_PAGE)
        store.upsert_contacts(page.contacts)
        written += len(page.contacts)
        if page.exhausted or not page.contacts:
            break
        after = page.contacts[-1].id


# -- the run --------------------------------------------------------------------------------------


class _WarningCounter(logging.Handler):
    """Counts the runtime's warnings instead of printing one line per refused connection."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _base_url(provider: str, host: str) -> str:
    return f"https://{host}{fake_for(provider).base_path}"


def _routing_transport(fakes_by_host: Mapping[str, FakeProvider]) -> httpx.MockTransport:
    """One transport for every client: each request goes to the fake its host names."""

    async def handle(request: httpx.Request) -> httpx.Response:
        fake = fakes_by_host.get(request.url.host)
        if fake is None:
            raise httpx.ConnectError(f"no fake server at {request.url.host}", request=request)
        return await fake.async_handler(request)

    return httpx.MockTransport(handle)


def _retry_wanted(scenario: Scenario, store: SQLStore, broadcast_id: str, done: int) -> bool:
    """The simulator's rule, on the store's rows: retry while FAILED rows are left (and,
    for ``only_systemic``, some of them are not), up to ``max_retries``."""
    policy = scenario.retry
    if policy is None or done >= policy.max_retries:
        return False
    rows = _read_rows(store, broadcast_id, scenario.start)
    if rows.outcomes[Outcome.FAILED] == 0:
        return False
    return policy.until is RetryUntil.NONE_LEFT or rows.failed_retryable > 0


async def _run(
    scenario: Scenario, store: SQLStore, registry: ProviderRegistry, seed: int, watch: StopWatch | None
) -> tuple[list[str], dict[str, FakeProvider]]:
    clock = WallClock(epoch=scenario.start)

    def since_start() -> float:
        return clock.now() - scenario.start

    fakes: dict[str, FakeProvider] = {}
    by_host: dict[str, FakeProvider] = {}
    ids = (f"r{n}" for n in itertools.count(1))
    service = BroadcastService(store=store, registry=registry, clock=clock.now, new_id=lambda: next(ids))
    for n, (name, behaviour) in enumerate(scenario.providers.items(), start=1):
        provider = behaviour.provider
        settings = dict(fake_for(provider).settings)
        secret = fake_for(provider).credential_setting
        host = f"i{n}.{_FAKE_DOMAIN}"
        fake = FakeProvider.from_scenario(scenario, name, seed=seed, clock=since_start, token=settings[secret])
        fakes[name], by_host[host] = fake, fake
        service.add_integration(name, provider, {**settings, "base_url": _base_url(provider, host)})

    spec = scenario.broadcast
    flow_id = None
    if spec.mode is Mode.FLOW:
        card: TextCard | TemplateCard = TextCard(spec.text)
        if spec.first_template is not None:
            template, language, params = spec.first_template
            card = TemplateCard(template, language, params)
        flow_id = "rehearsal"
        store.put_flow(Flow(flow_id, spec.name, first_card=card, required_fields=spec.required_fields))
    templates: list[TemplateRoute | FallbackTemplate] = [*spec.routes, *spec.fallbacks]
    for item in templates:
        store.put_template(
            item.integration,
            Template(item.template, item.language, param_count=len(item.params), body=f"{item.template} (rehearsal)"),
        )

    chain: list[str] = []
    async with HttpExecutor(transport=_routing_transport(by_host)) as executor, trio.open_nursery() as guard:
        runtime = Runtime(
            store=store,
            registry=registry,
            executor=executor,
            clock=clock,
            rng=random.Random(seed),
            pacing=spec.pacing,
            backoff=spec.backoff,
            rates={name: b.send_rate for name, b in scenario.providers.items() if b.send_rate is not None},
        )
        broadcast = service.create(
            name=spec.name,
            mode=spec.mode,
            flow_id=flow_id,
            routes=spec.routes,
            fallbacks=spec.fallbacks,
            channels=spec.channels,
            audience_filter="",
        )
        if watch is not None:
            # SIGINT / SIGTERM stop it as they stop `broadcaster run` (runtime.stopping)
            await guard.start(partial(watch.watch, runtime.stop, guard.cancel_scope))
        chain.append(broadcast.id)
        while True:
            await run_worker(runtime, once=True)
            if runtime.stop.is_set():
                break  # stopped: the store holds the run so far
            current = store.get_broadcast(chain[-1])
            if current.state not in TERMINAL_STATES:
                raise RuntimeError(f"the worker returned with broadcast {current.id} still {current.state.value}")
            if not _retry_wanted(scenario, store, current.id, len(chain) - 1):
                break
            assert scenario.retry is not None
            retry = service.retry(current.id, run_at=clock.now() + scenario.retry.delay)
            chain.append(retry.id)
            assert retry.run_at is not None
            await trio.sleep_until(clock.to_trio(retry.run_at) + _WAKE_SLACK)
        guard.cancel_scope.cancel()
    return chain, fakes


def rehearse(
    scenario: Scenario, *, store_path: Path = DEFAULT_STORE, seed: int | None = None, watch: StopWatch | None = None
) -> RehearsalResult:
    """Run ``scenario`` through the real engine into a fresh store at ``store_path``.

    With ``watch``, SIGINT / SIGTERM stop it (the first gracefully, the second at once)
    and ``watch.signum`` says so; the result then covers the run so far.

    Raises ConfigError for a store path it will not replace, PluginError for a provider
    with no installed plugin.
    """
    seed = scenario.seed if seed is None else seed
    registry = ProviderRegistry(make_plugin_manager())
    for behaviour in scenario.providers.values():
        registry.spec(behaviour.provider)  # a PluginError naming the installed providers
    store = prepare_store(store_path)
    counter = _WarningCounter()
    runtime_log = logging.getLogger("broadcaster")
    runtime_log.addHandler(counter)
    started = time.perf_counter()
    try:
        providers = {name: b.provider for name, b in scenario.providers.items()}
        # the same key the fakes derive: contact i here is contact i there
        audience = AudienceGenerator(
            scenario.audience,
            key=derive_key(random.Random(seed)),
            start=scenario.start,
            providers=providers,
            specs=SIM_SPECS,
        )
        _write_audience(store, audience, scenario.audience.size)
        chain, fakes = trio.run(
            _run, scenario, store, registry, seed, watch, clock=trio.testing.MockClock(autojump_threshold=0)
        )
    finally:
        runtime_log.removeHandler(counter)
        store.close()
    return RehearsalResult(
        scenario=scenario,
        seed=seed,
        store_path=store_path,
        broadcast_ids=tuple(chain),
        fakes=fakes,
        wall_seconds=time.perf_counter() - started,
        runtime_warnings=counter.count,
    )


# -- the report, read back from the store ---------------------------------------------------------


@attrs.define
class _Rows:
    """One broadcast's dispatch rows, counted."""

    total: int = 0
    contacts: set[str] = attrs.field(factory=set)
    outcomes: Counter[Outcome] = attrs.field(factory=Counter)
    statuses: Counter[str] = attrs.field(factory=Counter)
    reasons: Counter[str] = attrs.field(factory=Counter)
    failed_retryable: int = 0
    used_fallback: int = 0
    integrations: dict[str, Counter[Outcome]] = attrs.field(factory=dict)
    #: virtual second since the scenario's start -> rows sent (left for the provider) then
    sent_by_second: Counter[int] = attrs.field(factory=Counter)
    #: (virtual second recorded, outcome) -> rows
    outcomes_by_second: Counter[tuple[int, Outcome]] = attrs.field(factory=Counter)


def _read_rows(store: SQLStore, broadcast_id: str, start: float) -> _Rows:
    counted = _Rows()
    cursor: int | None = None
    while True:
        page = store.history(broadcast_id, cursor=cursor, limit=_ROW_PAGE)
        for row in page.rows:
            outcome = row.outcome
            counted.total += 1
            counted.contacts.add(row.contact_id)
            counted.outcomes[outcome] += 1
            counted.statuses[row.status.value] += 1
            counted.integrations.setdefault(row.integration or "-", Counter())[outcome] += 1
            counted.used_fallback += row.used_fallback
            if row.sent_at is not None:
                counted.sent_by_second[int(row.sent_at - start)] += 1
            if row.recorded_at is not None:
                counted.outcomes_by_second[int(row.recorded_at - start), outcome] += 1
            if outcome is Outcome.FAILED:
                counted.reasons[str(row.error_reason)] += 1
                counted.failed_retryable += row.error_kind in RETRYABLE_KINDS
        if page.next_cursor is None:
            return counted
        cursor = page.next_cursor


def _attempt(store: SQLStore, scenario: Scenario, number: int, broadcast_id: str) -> dict[str, Any]:
    broadcast = store.get_broadcast(broadcast_id)
    counters = broadcast.counters
    rows = _read_rows(store, broadcast_id, scenario.start)
    targeted = counters.audience_size_actual or 0
    reasons = sorted(rows.reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    started = counters.started_at if counters.started_at is not None else scenario.start
    duration = counters.duration or 0.0
    recorded = counters.recorded
    failed_rows = rows.outcomes[Outcome.FAILED]
    return {
        "attempt": number,
        "broadcast": broadcast.id,
        "retry_of": broadcast.retry_of,
        "state": broadcast.state.value,
        "targeted": targeted,
        "delivered": counters.delivered,
        "failed": counters.failed,
        "skipped": counters.skipped,
        "rows": rows.total,
        "delivery_rate": share(counters.delivered, targeted),
        "drop_rate": share(counters.failed + counters.skipped, targeted),
        "started_at_s": round(started - scenario.start, 3),
        "duration_s": round(duration, 3),
        "failed_retryable": rows.failed_retryable,
        "failed_systemic": failed_rows - rows.failed_retryable,
        "used_fallback": rows.used_fallback,
        "used_fallback_share": share(rows.used_fallback, recorded),
        "statuses": dict(sorted(rows.statuses.items(), key=lambda item: (-item[1], item[0]))),
        "error_reasons": dict(reasons),
        "integrations": {
            name: {o.value.lower(): counted[o] for o in Outcome} for name, counted in sorted(rows.integrations.items())
        },
        "_rows": rows,
    }


def _checks(store: SQLStore, result: RehearsalResult, attempts: list[dict[str, Any]]) -> dict[str, bool]:
    """Invariants a correct engine always keeps; any False is a bug worth reporting."""
    one_row = counters_match = True
    for attempt in attempts:
        rows: _Rows = attempt["_rows"]
        one_row &= rows.total == attempt["targeted"] == len(rows.contacts)
        counters_match &= (attempt["delivered"], attempt["failed"], attempt["skipped"]) == (
            rows.outcomes[Outcome.DELIVERED],
            rows.outcomes[Outcome.FAILED],
            rows.outcomes[Outcome.SKIPPED],
        )
    retry_targets_failed = True
    for source, retry in itertools.pairwise(result.broadcast_ids):
        audience = store.get_broadcast(retry).audience.contact_ids or ()
        retry_targets_failed &= sorted(audience) == sorted(store.failed_contact_ids(source))
    accepted = sum(len(fake.accepted) for fake in result.fakes.values())
    return {
        "one_row_per_contact": one_row,
        "counters_match_rows": counters_match,
        "no_pending_claims": all(not store.pending(bid) for bid in result.broadcast_ids),
        "retry_targets_failed_contacts": retry_targets_failed,
        "accepted_equals_delivered": accepted == sum(a["delivered"] for a in attempts),
        "no_duplicate_accepts": all(not fake.duplicates() for fake in result.fakes.values()),
    }


def build_rehearsal_report(result: RehearsalResult) -> dict[str, Any]:
    """The report of a finished rehearsal, read from its store (reopened read-write only
    to query; nothing is written)."""
    scenario = result.scenario
    store = open_store(result.store_path, create=False)
    try:
        attempts = [_attempt(store, scenario, n, bid) for n, bid in enumerate(result.broadcast_ids, start=1)]
        checks = _checks(store, result, attempts)
        last = result.broadcast_ids[-1]
        lineage = [b.id for b in BroadcastService(store=store).lineage(last)]
    finally:
        store.close()
    timeline = _timeline([attempt.pop("_rows") for attempt in attempts], attempts)
    final = attempts[-1]
    delivered = sum(a["delivered"] for a in attempts)
    return {
        "scenario": scenario_summary(scenario, seed=result.seed),
        "store": str(result.store_path.resolve()),
        "attempts": attempts,
        "lineage": lineage,
        "chain": {
            "attempts": len(attempts),
            "delivered": delivered,
            "still_failed": final["failed"],
            "still_failed_systemic": final["failed_systemic"],
            "delivery_rate": share(delivered, attempts[0]["targeted"]),
        },
        "fakes": {
            name: {
                "provider": fake.provider,
                "requests": fake.requests,
                "accepted": len(fake.accepted),
                "duplicates": sum(n - 1 for n in fake.duplicates().values()),
            }
            for name, fake in result.fakes.items()
        },
        "checks": checks,
        "timeline": timeline,
        "runtime_warnings": result.runtime_warnings,
        "wall_s": round(result.wall_seconds, 2),
    }


#: bin widths for the rehearsal's timeline (seconds): the first that makes at most ~60 bins
_BINS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


def _timeline(counted: list[_Rows], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows per bin of virtual time over the whole chain: sent, and recorded by outcome."""
    sent: Counter[int] = Counter()
    outcomes: Counter[tuple[int, Outcome]] = Counter()
    for rows in counted:
        sent.update(rows.sent_by_second)
        outcomes.update(rows.outcomes_by_second)
    last = max([*sent, *(second for second, _ in outcomes)], default=-1)
    width = next((b for b in _BINS if (last + 1) / b <= 60), _BINS[-1])
    bins = (last + width) // width if last >= 0 else 0
    by_bin: dict[str, list[int]] = {key: [0] * bins for key in ("sends", "delivered", "failed", "skipped")}
    for second, n in sent.items():
        by_bin["sends"][second // width] += n
    for (second, outcome), n in outcomes.items():
        by_bin[outcome.value.lower()][second // width] += n
    return {
        "bin_s": width,
        "bins": bins,
        **by_bin,
        "retry_starts_s": [a["started_at_s"] for a in attempts[1:]],
    }


def render_rehearsal_text(report: dict[str, Any]) -> str:
    head = report["scenario"]
    lines = [f"Rehearsal: {head['name']}  (seed {head['seed']})"]
    if head["description"]:
        lines.append(f"  {head['description']}")
    integrations = ", ".join(f"{name} ({provider})" for name, provider in head["integrations"].items())
    lines += [
        f"  audience {head['audience_size']:,} contacts; integrations: {integrations}",
        "  the real store, plugins, worker and HTTP executor against fake provider servers, on a virtual clock",
        f"  store: {report['store']}",
        "",
    ]
    for attempt in report["attempts"]:
        title = "Original broadcast" if attempt["attempt"] == 1 else f"Retry #{attempt['attempt'] - 1}"
        of = f" (retry of {attempt['retry_of']})" if attempt["retry_of"] else ""
        lines.append(f"{title} {attempt['broadcast']}{of}: {attempt['targeted']:,} targeted, {attempt['state']}")
        lines.append(
            f"  delivered {attempt['delivered']:,}  failed {attempt['failed']:,}  skipped {attempt['skipped']:,}"
            f"  | delivery rate {format_pct(attempt['delivery_rate'])}  drop rate {format_pct(attempt['drop_rate'])}"
        )
        lines.append(
            f"  started +{format_clock(attempt['started_at_s'])}, took {format_clock(attempt['duration_s'])} (virtual);"
            f" {attempt['rows']:,} rows in the store; used fallback {attempt['used_fallback']:,}"
            f" ({format_pct(attempt['used_fallback_share'])})"
        )
        lines.append(
            f"  FAILED: {attempt['failed_retryable']:,} a retry may clear, {attempt['failed_systemic']:,} systemic"
        )
        if attempt["statuses"]:
            lines.append("  statuses:")
            lines += text_table(["status", "rows"], [[k, f"{v:,}"] for k, v in attempt["statuses"].items()])
        if attempt["error_reasons"]:
            lines.append(f"  top error reasons (FAILED rows, at most {TOP_REASONS}):")
            lines += text_table(["reason", "rows"], [[k, f"{v:,}"] for k, v in attempt["error_reasons"].items()])
        if len(attempt["integrations"]) > 1 or attempt["attempt"] == 1:
            lines.append("  per integration:")
            lines += text_table(
                ["integration", "delivered", "failed", "skipped"],
                [[k, v["delivered"], v["failed"], v["skipped"]] for k, v in attempt["integrations"].items()],
            )
        lines.append("")
    lines.append(f"Lineage: {' -> '.join(report['lineage'])}")
    lines += text_table(
        ["attempt", "broadcast", "targeted", "delivered", "failed", "skipped"],
        [
            [a["attempt"], a["broadcast"], a["targeted"], a["delivered"], a["failed"], a["skipped"]]
            for a in report["attempts"]
        ],
    )
    chain = report["chain"]
    lines.append(
        f"  reached over the chain: {chain['delivered']:,} of {report['attempts'][0]['targeted']:,}"
        f" ({format_pct(chain['delivery_rate'])}); still failed: {chain['still_failed']:,}"
        f" ({chain['still_failed_systemic']:,} systemic)"
    )
    lines += ["", "Fake provider servers:"]
    lines += text_table(
        ["integration", "provider", "requests", "accepted", "duplicates"],
        [
            [k, v["provider"], f"{v['requests']:,}", f"{v['accepted']:,}", v["duplicates"]]
            for k, v in report["fakes"].items()
        ],
    )
    lines += ["", "Checks:"]
    lines += [
        f"  {'ok    ' if passed else 'FAILED'}  {name.replace('_', ' ')}" for name, passed in report["checks"].items()
    ]
    lines += [
        "",
        f"Wall time {report['wall_s']:.1f}s; the runtime logged {report['runtime_warnings']:,} warnings"
        " (one per transport failure).",
    ]
    return "\n".join(lines) + "\n"

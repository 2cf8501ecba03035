"""Reading scenario files (TOML): every error names the file, the key path and what was expected.

A scenario file has five tables — ``[scenario]``, ``[audience]``, ``[broadcast]``,
``[providers.<integration>]`` (with ``[[providers.<integration>.timeline]]`` entries) and
an optional ``[retry]`` — described in ``docs/simulator.md``. Durations are seconds or
strings such as ``"250ms"``, ``"90s"``, ``"5m"``, ``"1h30m"``.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path
from typing import Any, Mapping

from broadcaster.core.backoff import BackoffPolicy
from broadcaster.core.errors import ConfigError
from broadcaster.core.models import FallbackTemplate, Mode, TemplateRoute
from broadcaster.core.pacing import PacingPlan
from broadcaster.durations import parse_duration

from .model import (
    AudienceSpec,
    BroadcastSpec,
    ErrorMode,
    Fates,
    Latency,
    Period,
    PeriodKind,
    ProviderBehaviour,
    RetryPolicy,
    RetryUntil,
    Scenario,
)
from .specs import SIM_SPECS, simulated_providers

__all__ = ["MAX_AUDIENCE", "ScenarioError", "load_scenario", "parse_duration", "parse_scenario"]

_DEFAULT_START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
#: the largest audience a scenario may ask for
MAX_AUDIENCE = 100_000_000


class ScenarioError(ConfigError):
    """A scenario file that cannot be used; the message starts with ``file: key.path:``."""

    code = "BAD_SCENARIO"

    def __init__(self, source: str, path: str, problem: str, *, hint: str | None = None) -> None:
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}", hint=hint)
        self.source = source
        self.path = path


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class _Table:
    """A TOML table being read: tracks its key path and rejects unknown keys by name."""

    def __init__(self, source: str, path: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.path = path
        self.data = data
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str, *, hint: str | None = None) -> ScenarioError:
        return ScenarioError(self.source, self.where(key), problem, hint=hint)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def table(self, key: str, *, required: bool = False) -> _Table:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.error(key, "is missing; expected a table")
            value = {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {_type_name(value)}")
        return _Table(self.source, self.where(key), value)

    def tables(self, key: str) -> list[_Table]:
        value = self.raw(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.error(key, f"expected an array of tables ([[{self.where(key)}]]), got {_type_name(value)}")
        return [_Table(self.source, f"{self.where(key)}[{i}]", item) for i, item in enumerate(value)]

    def string(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = ()) -> str:
        value = self.raw(key, default)
        if value is None:
            raise self.error(key, "is missing; expected a string")
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_type_name(value)}")
        if choices and value not in choices:
            raise self.error(key, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(key, f"expected an array of strings, got {_type_name(value)}")
        return tuple(value)

    def integer(self, key: str, default: int | None = None, *, low: int = 0, high: int | None = None) -> int:
        value = self.raw(key, default)
        if value is None:
            raise self.error(key, "is missing; expected a whole number")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected a whole number, got {_type_name(value)}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise self.error(key, f"expected a whole number {bound}, got {value}")
        return value

    def number(self, key: str, default: float | None = None, *, low: float = 0.0, high: float | None = None) -> float:
        value = self.raw(key, default)
        if value is None:
            raise self.error(key, "is missing; expected a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"expected a number, got {_type_name(value)}")
        if value < low or (high is not None and value > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            raise self.error(key, f"expected a number {bound}, got {value:g}")
        return float(value)

    def positive(self, key: str, default: float | None = None) -> float:
        value = self.number(key, default)
        if value <= 0:
            raise self.error(key, f"expected a number > 0, got {value:g}")
        return value

    def share(self, key: str, default: float = 0.0) -> float:
        return self.number(key, default, low=0.0, high=1.0)

    def duration(self, key: str, default: float | None = None) -> float:
        value = self.raw(key, default)
        if value is None:
            raise self.error(key, 'is missing; expected a duration (seconds, or a string like "90s", "5m", "1h30m")')
        try:
            return parse_duration(value)
        except ValueError:
            raise self.error(
                key, f'expected a duration (seconds, or a string like "90s", "5m", "1h30m"), got {value!r}'
            ) from None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise self.error(unknown[0], "is not a known setting", hint=f"known keys here: {known}")


# -- the sections ------------------------------------------------------------------------------


def _start(table: _Table) -> float:
    value = table.raw("start")
    if value is None:
        return _DEFAULT_START.timestamp()
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise table.error("start", f"expected a date-time like 2026-01-05T09:00:00Z, got {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise table.error("start", f"expected a date-time like 2026-01-05T09:00:00Z, got {_type_name(value)}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _latency(table: _Table, key: str, default: Latency | None) -> Latency | None:
    if not table.has(key):
        table.used.add(key)
        return default
    value = table.raw(key)
    if not isinstance(value, dict):
        try:
            fixed = parse_duration(value)
        except ValueError:
            raise table.error(key, "expected a duration or a table { median = ..., p99 = ... }") from None
        if fixed <= 0:
            raise table.error(key, "expected a latency > 0")
        return Latency(fixed, fixed)
    sub = _Table(table.source, table.where(key), value)
    median = sub.duration("median")
    p99 = sub.duration("p99", median)
    sub.done()
    if median <= 0:
        raise sub.error("median", "expected a latency > 0")
    if p99 < median:
        raise sub.error("p99", f"expected at least the median ({median:g}s), got {p99:g}s")
    return Latency(median, p99)


def _audience(table: _Table, integrations: Mapping[str, ProviderBehaviour]) -> AudienceSpec:
    size = table.integer("size", low=0, high=MAX_AUDIENCE)
    channels_table = table.table("channels", required=True)
    channels: dict[str, float] = {}
    for name in channels_table.data:
        if name not in integrations:
            raise channels_table.error(
                name, "names no integration", hint=f"integrations ([providers.*]): {', '.join(integrations)}"
            )
        channels[name] = channels_table.number(name)
    if not any(weight > 0 for weight in channels.values()):
        raise table.error("channels", "expected at least one integration with a weight > 0")
    spec = AudienceSpec(
        size=size,
        channels=channels,
        second_chat=table.share("second_chat"),
        no_chat=table.share("no_chat"),
        opted_out=table.share("opted_out"),
        missing_field=table.share("missing_field"),
        closed_window=table.share("closed_window"),
    )
    table.done()
    return spec


def _integration_name(table: _Table, key: str, value: str, integrations: Mapping[str, object]) -> str:
    if value not in integrations:
        raise table.error(key, f"names no integration: {value!r}", hint=f"integrations: {', '.join(integrations)}")
    return value


def _broadcast(table: _Table, integrations: Mapping[str, ProviderBehaviour]) -> BroadcastSpec:
    mode = Mode(table.string("mode", "flow", choices=("flow", "template")))
    routes = []
    for sub in table.tables("routes"):
        routes.append(
            TemplateRoute(
                integration=_integration_name(sub, "integration", sub.string("integration"), integrations),
                template=sub.string("template"),
                language=sub.string("language", "en"),
                params=sub.strings("params"),
                when=sub.raw("when"),
            )
        )
        if routes[-1].when is not None and not isinstance(routes[-1].when, str):
            raise sub.error("when", "expected an audience filter expression (a string)")
        sub.done()
    fallbacks = []
    for sub in table.tables("fallbacks"):
        fallbacks.append(
            FallbackTemplate(
                integration=_integration_name(sub, "integration", sub.string("integration"), integrations),
                template=sub.string("template"),
                language=sub.string("language", "en"),
                params=sub.strings("params"),
            )
        )
        sub.done()
    first_template = None
    if table.has("template"):
        sub = table.table("template")
        first_template = (sub.string("name"), sub.string("language", "en"), sub.strings("params"))
        sub.done()
    channels = table.strings("channels")
    for i, name in enumerate(channels):
        _integration_name(table, f"channels[{i}]", name, integrations)
    if mode is Mode.TEMPLATE and not routes:
        raise table.error("routes", "template mode needs at least one [[broadcast.routes]] entry")
    pacing_table, backoff_table = table.table("pacing"), table.table("backoff")
    try:
        pacing = PacingPlan.from_mapping(pacing_table.data)
    except ConfigError as exc:
        raise ScenarioError(table.source, pacing_table.path, exc.message, hint=exc.hint) from None
    try:
        backoff = BackoffPolicy.from_mapping(backoff_table.data)
    except (ConfigError, TypeError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else str(exc)
        raise ScenarioError(table.source, backoff_table.path, message) from None
    spec = BroadcastSpec(
        name=table.string("name", "simulated broadcast"),
        mode=mode,
        text=table.string("text", "Hello from broadcaster"),
        first_template=first_template,
        required_fields=table.strings("required_fields"),
        channels=channels,
        routes=tuple(routes),
        fallbacks=tuple(fallbacks),
        pacing=pacing,
        backoff=backoff,
    )
    table.done()
    return spec


def _period(sub: _Table) -> Period:
    kind = PeriodKind(sub.string("kind", choices=tuple(k.value for k in PeriodKind)))
    start = sub.duration("at")
    if sub.has("for") and sub.has("until"):
        raise sub.error("until", "give either 'for' (a length) or 'until' (an offset), not both")
    if sub.has("for"):
        end = start + sub.duration("for")
    elif sub.has("until"):
        end = sub.duration("until")
        if end <= start:
            raise sub.error("until", f"expected an offset after 'at' ({start:g}s), got {end:g}s")
    else:
        end = math.inf
    error = ErrorMode(sub.string("error", "5xx", choices=tuple(e.value for e in ErrorMode)))
    share = sub.share("share", 1.0)
    limit = sub.positive("limit") if kind is PeriodKind.RATE_LIMIT else None
    burst = sub.integer("burst", low=1) if sub.has("burst") else None
    retry_after = sub.integer("retry_after", low=0) if sub.has("retry_after") else None
    latency = _latency(sub, "latency", None)
    if kind is PeriodKind.SLOW and latency is None:
        raise sub.error("latency", "a 'slow' period needs a latency")
    sub.done()
    return Period(kind, start, end, error, share, limit, burst, retry_after, latency)


def _provider(table: _Table, name: str) -> ProviderBehaviour:
    known = simulated_providers()
    provider = table.string("provider", name if name in known else None, choices=known)
    spec = SIM_SPECS[provider]
    limit = table.positive("limit", spec.rate_per_second)
    fates_table = table.table("fates")
    fates = Fates(
        blocked=fates_table.share("blocked"),
        unregistered=fates_table.share("unregistered"),
        opted_out=fates_table.share("opted_out"),
        flaky=fates_table.share("flaky"),
        flaky_failure=fates_table.share("flaky_failure", 0.5),
    )
    fates_table.done()
    if fates.blocked + fates.unregistered + fates.opted_out > 1:
        raise fates_table.error("blocked", "blocked + unregistered + opted_out must not exceed 1")
    behaviour = ProviderBehaviour(
        integration=name,
        provider=provider,
        limit=limit,
        burst=table.integer("burst", max(1, int(limit)), low=1),
        latency=_latency(table, "latency", Latency()) or Latency(),
        timeout=table.duration("timeout", 10.0),
        failure_rate=table.share("failure_rate"),
        fates=fates,
        timeline=tuple(_period(sub) for sub in table.tables("timeline")),
        send_rate=table.positive("send_rate") if table.has("send_rate") else None,
    )
    table.done()
    return behaviour


def _retry(table: _Table) -> RetryPolicy:
    policy = RetryPolicy(
        until=RetryUntil(table.string("until", "only_systemic", choices=tuple(u.value for u in RetryUntil))),
        max_retries=table.integer("max_retries", 3, low=0, high=100),
        delay=table.duration("delay", 120.0),
    )
    table.done()
    return policy


def parse_scenario(data: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Build a :class:`Scenario` from parsed TOML; raise :class:`ScenarioError`."""
    root = _Table(source, "", data)
    head = root.table("scenario")
    providers_table = root.table("providers", required=True)
    if not providers_table.data:
        raise root.error("providers", "expected at least one [providers.<integration>] table")
    providers = {name: _provider(providers_table.table(name), name) for name in providers_table.data}
    providers_table.done()
    audience = _audience(root.table("audience", required=True), providers)
    broadcast = _broadcast(root.table("broadcast"), providers)
    retry = _retry(root.table("retry")) if root.has("retry") else None
    scenario = Scenario(
        name=head.string("name", Path(source).stem),
        description=head.string("description", ""),
        seed=head.integer("seed", 0, low=0, high=2**63 - 1),
        start=_start(head),
        audience=audience,
        broadcast=broadcast,
        providers=providers,
        retry=retry,
        source=source,
    )
    head.done()
    root.done()
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, "", f"cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"is not valid TOML: {exc}") from None
    return parse_scenario(data, source=source)

"""Operator configuration: one TOML file, overridden by ``BROADCASTER_*`` environment variables.

Where the file is: ``--config PATH``, else ``$BROADCASTER_CONFIG``, else ``./broadcaster.toml``
when it exists (no file at all is fine: every setting has a default). Keys (all optional)::

    store = "sqlite:///broadcaster.db"   # or a plain path; default ./broadcaster.db
    quota = 25                           # DRAFT + SCHEDULED broadcasts at once
    timezone = "Europe/Oslo"             # how times are shown and read; default: the system's
    secrets_file = "secrets.toml"        # relative to this file; tables of secrets per integration
    max_lateness = "24h"                 # a broadcast later than this after its run-at is not fired

    [pacing]    # page_size, batch_size, concurrent_batches, in_flight_per_batch
    [backoff]   # base, factor, cap, jitter, budget
    [rates]     # integration = messages per second
    [callbacks] # enabled = true, host = "127.0.0.1", port = 8080
    [[webhooks]]  # url, secret_env (the variable holding the signing secret), name, events

Environment overrides: ``BROADCASTER_STORE``, ``BROADCASTER_QUOTA``, ``BROADCASTER_TIMEZONE``,
``BROADCASTER_SECRETS_FILE``, ``BROADCASTER_MAX_LATENESS``, ``BROADCASTER_CALLBACKS_HOST``,
``BROADCASTER_CALLBACKS_PORT``.

Secrets never live in this file nor on the command line: an integration's secret setting
is stored as a *reference* — ``${env:NAME}`` (an environment variable) or
``${secret:INTEGRATION.KEY}`` (a key of the secrets file) — resolved only when the worker
needs it (:func:`resolve_secrets`).
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import attrs

from .core.backoff import BackoffPolicy
from .core.errors import ConfigError
from .core.models import Integration
from .core.pacing import PacingPlan
from .core.schedule import DEFAULT_MAX_LATENESS, check_max_lateness
from .durations import parse_duration
from .runtime.webhooks import WebhookEndpoint
from .service import DEFAULT_QUOTA
from .strict import EdgeError, strict_bool, strict_int, strict_number, type_name

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_STORE",
    "CallbackSettings",
    "Config",
    "env_reference",
    "load_config",
    "parse_reference",
    "resolve_secrets",
    "secret_reference",
]

CONFIG_ENV = "BROADCASTER_CONFIG"
DEFAULT_CONFIG_FILE = "broadcaster.toml"
DEFAULT_STORE = "broadcaster.db"

_KNOWN_KEYS = {
    "store",
    "quota",
    "timezone",
    "secrets_file",
    "max_lateness",
    "pacing",
    "backoff",
    "rates",
    "callbacks",
    "webhooks",
}
T = TypeVar("T")
#: bounds past which a setting is a typo, not a plan
MAX_QUOTA = 1_000_000
MAX_RATE = 100_000.0
_REFERENCE = re.compile(r"\$\{(env|secret):([A-Za-z0-9_.\-]+)\}")


@attrs.frozen(kw_only=True)
class CallbackSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080


@attrs.frozen(kw_only=True)
class Config:
    store: str = DEFAULT_STORE
    quota: int = DEFAULT_QUOTA
    #: None: the system's local zone
    timezone: zoneinfo.ZoneInfo | None = None
    secrets_file: Path | None = None
    pacing: PacingPlan = PacingPlan()
    backoff: BackoffPolicy = BackoffPolicy()
    rates: Mapping[str, float] = attrs.field(factory=dict)
    callbacks: CallbackSettings = CallbackSettings()
    webhooks: tuple[WebhookEndpoint, ...] = ()
    #: seconds after its run-at past which a broadcast is overdue and not fired (core.schedule)
    max_lateness: float = DEFAULT_MAX_LATENESS
    #: the file it came from, if any (errors name it)
    source: Path | None = None


def _where(source: Path | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def load_config(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from ``path`` (or the env/default location) plus env overrides."""
    env = os.environ if environ is None else environ
    explicit = path is not None or bool(env.get(CONFIG_ENV))
    source = Path(path if path is not None else env.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if source.exists() or explicit:
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"configuration file {source} does not exist", hint=f"create it, or unset {CONFIG_ENV}"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {source}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}", hint="fix the file's syntax") from None
    else:
        source = None  # type: ignore[assignment]
    return _build(data, source, env)


def _build(data: dict[str, Any], source: Path | None, env: Mapping[str, str]) -> Config:
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{_where(source, unknown[0])}: unknown setting", hint=f"known settings: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    base = source.parent if source else Path.cwd()
    for key in ("store", "timezone", "secrets_file"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{_where(source, key)}: expected text, got {type_name(data[key])}")
    store = str(env.get("BROADCASTER_STORE") or data.get("store") or DEFAULT_STORE)
    quota_raw: Any = env.get("BROADCASTER_QUOTA") or data.get("quota", DEFAULT_QUOTA)
    if isinstance(quota_raw, str) and re.fullmatch(r"\s*[0-9]{1,9}\s*", quota_raw):
        quota_raw = int(quota_raw)  # the environment's text; the file's value must be a number already
    quota = _strict(source, "quota", lambda: strict_int(quota_raw, minimum=1, maximum=MAX_QUOTA))
    zone_name = env.get("BROADCASTER_TIMEZONE") or data.get("timezone")
    zone = None
    if zone_name:
        try:
            zone = zoneinfo.ZoneInfo(str(zone_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{_where(source, 'timezone')}: unknown time zone {zone_name!r}",
                hint="use an IANA name like Europe/Oslo",
            ) from None
    secrets_raw = env.get("BROADCASTER_SECRETS_FILE") or data.get("secrets_file")
    secrets_file = (base / str(secrets_raw)) if secrets_raw else None
    lateness_raw: Any = env.get("BROADCASTER_MAX_LATENESS") or data.get("max_lateness", DEFAULT_MAX_LATENESS)
    try:
        max_lateness = check_max_lateness(parse_duration(lateness_raw))
    except ValueError as exc:
        raise ConfigError(f"{_where(source, 'max_lateness')}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{_where(source, 'max_lateness')}: {exc.message}", hint=exc.hint) from None
    pacing = _section(source, data, "pacing", PacingPlan.from_mapping)
    backoff = _section(source, data, "backoff", lambda values: BackoffPolicy.from_mapping(_backoff(values)))
    rates: dict[str, float] = {}
    for name, rate in _table(source, data, "rates").items():
        bounded = functools.partial(strict_number, rate, minimum=0.001, maximum=MAX_RATE)
        rates[name] = _strict(source, f"rates.{name}", bounded)
    callbacks_data = _table(source, data, "callbacks")
    unknown = sorted(set(callbacks_data) - {"enabled", "host", "port"})
    if unknown:
        raise ConfigError(
            f"{_where(source, 'callbacks.' + unknown[0])}: unknown setting", hint="known: enabled, host, port"
        )
    port_raw: Any = env.get("BROADCASTER_CALLBACKS_PORT") or callbacks_data.get("port", 8080)
    if isinstance(port_raw, str) and re.fullmatch(r"\s*-?[0-9]{1,9}\s*", port_raw):
        port_raw = int(port_raw)
    port = _strict(source, "callbacks.port", lambda: strict_int(port_raw, minimum=1, maximum=65535))
    enabled = _strict(source, "callbacks.enabled", lambda: strict_bool(callbacks_data.get("enabled", False)))
    host = env.get("BROADCASTER_CALLBACKS_HOST") or callbacks_data.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{_where(source, 'callbacks.host')}: expected a host name or address, got {host!r}")
    callbacks = CallbackSettings(enabled=enabled, host=host, port=port)
    webhooks_data = data.get("webhooks", [])
    if not isinstance(webhooks_data, list):
        raise ConfigError(f"{_where(source, 'webhooks')}: expected [[webhooks]] tables, got {type_name(webhooks_data)}")
    webhooks = tuple(_webhook(source, index, item, env) for index, item in enumerate(webhooks_data))
    return Config(
        store=store,
        quota=quota,
        timezone=zone,
        secrets_file=secrets_file,
        pacing=pacing,
        backoff=backoff,
        rates=rates,
        callbacks=callbacks,
        webhooks=webhooks,
        max_lateness=max_lateness,
        source=source,
    )


#: what each [backoff] value may be: a number in these bounds (seconds for base and cap)
_BACKOFF_BOUNDS: Mapping[str, tuple[float, float]] = {
    "base": (0.001, 86_400.0),
    "cap": (0.001, 86_400.0),
    "factor": (1.0, 100.0),
    "jitter": (0.0, 1.0),
}
MAX_BACKOFF_BUDGET = 1_000


def _backoff(values: Mapping[str, Any]) -> dict[str, Any]:
    """``[backoff]`` with every value strictly a number in bounds (no ``true`` for 1, no 1e308 s)."""
    checked: dict[str, Any] = dict(values)
    for key, value in values.items():
        where = key  # _section puts "<file>: backoff:" before it
        if key == "budget":
            checked[key] = _strict(
                None, where, functools.partial(strict_int, value, minimum=0, maximum=MAX_BACKOFF_BUDGET)
            )
        elif key in _BACKOFF_BOUNDS:
            low, high = _BACKOFF_BOUNDS[key]
            checked[key] = _strict(None, where, functools.partial(strict_number, value, minimum=low, maximum=high))
    return checked


def _strict(source: Path | None, key: str, convert: Callable[[], T]) -> T:
    try:
        return convert()
    except EdgeError as exc:
        raise ConfigError(f"{_where(source, key)}: {exc}") from None


def _table(source: Path | None, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{_where(source, key)}: expected a table ([{key}]), got {type_name(value)} {value!r:.40}")
    return value


def _section(source: Path | None, data: dict[str, Any], key: str, build: Any) -> Any:
    values = data.get(key)
    if values is None:
        return build({})
    if not isinstance(values, dict):
        raise ConfigError(f"{_where(source, key)}: expected a table")
    try:
        return build(values)
    except ConfigError as exc:
        raise ConfigError(f"{_where(source, key)}: {exc.message}", hint=exc.hint) from None
    except TypeError as exc:
        raise ConfigError(f"{_where(source, key)}: {exc}") from None


def _webhook(source: Path | None, index: int, item: Any, env: Mapping[str, str]) -> WebhookEndpoint:
    where = _where(source, f"webhooks[{index}]")
    if not isinstance(item, dict) or not item.get("url"):
        raise ConfigError(f"{where}: expected a table with a url")
    variable = item.get("secret_env")
    if not variable:
        raise ConfigError(
            f"{where}: needs secret_env, the environment variable holding its signing secret",
            hint="secrets are never written in the configuration file",
        )
    secret = env.get(str(variable))
    if not secret:
        raise ConfigError(f"{where}: environment variable {variable} is not set", hint=f"export {variable}=...")
    unknown = sorted(set(item) - {"url", "secret_env", "name", "events"})
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown setting", hint="known: url, secret_env, name, events")
    events = item.get("events")
    if events is not None and (not isinstance(events, list) or not all(isinstance(e, str) for e in events)):
        raise ConfigError(
            f"{where}.events: expected a list of event names, got {type_name(events)} {events!r:.40}",
            hint='e.g. events = ["finished", "cancelled"]; leave it out for every event',
        )
    if not isinstance(item["url"], str) or not isinstance(item.get("name", ""), str):
        raise ConfigError(f"{where}: url and name must be text")
    try:
        return WebhookEndpoint(url=item["url"], secret=secret, name=item.get("name", ""), events=events)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# -- secret references -------------------------------------------------------------------


def env_reference(variable: str) -> str:
    return "${env:" + variable + "}"


def secret_reference(integration: str, key: str) -> str:
    return "${secret:" + integration + "." + key + "}"


def parse_reference(value: str) -> tuple[str, str] | None:
    """``("env", NAME)`` or ``("secret", "INTEGRATION.KEY")`` for a reference, else None."""
    match = _REFERENCE.fullmatch(value)
    return (match[1], match[2]) if match else None


def _secrets_table(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"secrets file {path} does not exist", hint="create it, or fix secrets_file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read secrets file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        # never quote the parser's message: it may contain a secret
        raise ConfigError(f"secrets file {path} is not valid TOML", hint="fix the file's syntax") from None


def resolve_secrets(
    integration: Integration, *, secrets_file: Path | None, environ: Mapping[str, str] | None = None
) -> Integration:
    """``integration`` with every reference replaced by its secret; ConfigError naming a missing one."""
    env = os.environ if environ is None else environ
    table: dict[str, Any] | None = None
    settings = dict(integration.settings)
    for key, value in integration.settings.items():
        reference = parse_reference(value)
        if reference is None:
            continue
        kind, name = reference
        if kind == "env":
            resolved = env.get(name)
            if not resolved:
                raise ConfigError(
                    f"integration {integration.name!r}: environment variable {name} (its {key!r}) is not set",
                    hint=f"export {name}=... in the worker's environment",
                )
        else:
            if secrets_file is None:
                raise ConfigError(
                    f"integration {integration.name!r}: its {key!r} is in the secrets file, but none is configured",
                    hint="set secrets_file in the configuration, or BROADCASTER_SECRETS_FILE",
                )
            if table is None:
                table = _secrets_table(secrets_file)
            owner, _, secret_key = name.partition(".")
            found = table.get(owner, {}).get(secret_key) if isinstance(table.get(owner), dict) else None
            if not isinstance(found, str) or not found:
                raise ConfigError(
                    f"integration {integration.name!r}: the secrets file {secrets_file} has no [{owner}] {secret_key}",
                    hint=f'add `{secret_key} = "..."` under [{owner}] in that file',
                )
            resolved = found
        settings[key] = resolved
    return attrs.evolve(integration, settings=settings)

"""Setting up: ``plugins``, ``integrations``, ``flows`` and ``templates``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import env_reference, parse_reference, resolve_secrets, secret_reference
from ..core.channels import ChannelSpec
from ..core.errors import ConfigError, PluginError
from ..core.models import Flow, Integration, Template, TextMessage
from .base import App, BroadcasterGroup, CliError, emit_json, json_option, pass_app, unstructure
from .escaping import SafeTable, clean
from .files import read_document, structure, structure_items
from .plugin_check import check
from .render import console, format_time

__all__ = ["flows", "integrations", "plugins", "templates"]


# -- plugins ----------------------------------------------------------------------------------


def _capabilities(spec: ChannelSpec) -> dict[str, Any]:
    data: dict[str, Any] = unstructure(spec)
    data["kinds"] = sorted(kind.value for kind in spec.kinds)
    data["window_closed_errors"] = sorted(spec.window_closed_errors)
    return data


@click.group(cls=BroadcasterGroup, invoke_without_command=True)
@json_option
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List the installed provider plugins, what each provider can do, and broken ones;
    ``plugins check PROVIDER`` runs the conformance kit against one.

    \b
    Example:
      broadcaster plugins
      broadcaster plugins --json | jq '.[] | select(.status == "ok") | .provider'
      broadcaster plugins check ntfy
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    infos = list(app.registry)
    broken = app.registry.broken
    if as_json:
        emit_json(
            [
                {
                    "status": "ok",
                    "provider": info.provider,
                    "plugin": info.plugin_name,
                    "entry_point": info.plugin_name if info.distribution else None,
                    "distribution": info.distribution,
                    "version": info.version,
                    "methods": list(info.methods),
                    "capabilities": _capabilities(info.spec),
                }
                for info in infos
            ]
            + [
                {
                    "status": "broken",
                    "provider": None,
                    "plugin": item.origin.name,
                    "entry_point": item.origin.name if item.origin.distribution else None,
                    "distribution": item.origin.distribution,
                    "version": item.origin.version,
                    "error": item.error,
                }
                for item in broken
            ]
        )
        return
    if not infos and not broken:
        click.echo("no provider plugins installed (pip install broadcaster-telegram, ...)")
        return
    if infos:
        table = SafeTable(
            "provider", "entry point", "distribution", "kinds", "window", "confirmation", "rate/s", "batch", "needs"
        )
        for info in infos:
            spec = info.spec
            table.add_row(
                info.provider,
                info.plugin_name,
                f"{info.distribution or '-'} {info.version or ''}".strip(),
                ",".join(sorted(kind.value for kind in spec.kinds)),
                "-" if spec.window_seconds is None else f"{spec.window_seconds / 3600:g}h",
                spec.confirmation.value,
                f"{spec.rate_per_second:g}",
                str(spec.max_batch),
                ",".join(spec.required_settings) or "-",
            )
        console().print(table)
        methods = SafeTable("provider", "methods implemented")
        for info in infos:
            methods.add_row(info.provider, ", ".join(info.methods))
        console().print(methods)
    if broken:
        failing = SafeTable("broken entry point", "distribution", "error")
        for item in broken:
            origin = item.origin
            failing.add_row(origin.name, f"{origin.distribution or '-'} {origin.version or ''}".strip(), item.error)
        console().print(failing)


plugins.add_command(check)


# -- integrations -----------------------------------------------------------------------------


@click.group(cls=BroadcasterGroup)
def integrations() -> None:
    """Add, list and check integrations (configured provider accounts).

    \b
    Example:
      export TG_TOKEN=123:abc
      broadcaster integrations add tg --provider telegram --secret token=TG_TOKEN
      broadcaster integrations list
      broadcaster integrations check tg
    """


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not key:
            raise click.BadParameter(f"{value!r} has no setting name; write KEY=VALUE", param_hint=option)
        pairs.append((key.strip(), rest if sep else None))
    return pairs


@integrations.command("add")
@click.argument("name")
@click.option("--provider", required=True, help="The provider (see `broadcaster plugins`).")
@click.option(
    "--setting", "settings", multiple=True, metavar="KEY=VALUE", help="A non-secret setting, e.g. base_url=..."
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="KEY=ENV_VAR | KEY",
    help="A secret setting: the environment variable holding it, or just KEY to read [NAME] KEY from the secrets file.",
)
@pass_app
def add_integration(app: App, name: str, provider: str, settings: tuple[str, ...], secrets: tuple[str, ...]) -> None:
    """Add (or replace) the integration NAME on PROVIDER.

    Secrets are never typed on the command line: --secret names the environment
    variable holding one (stored as a reference, read when the worker runs), or the
    key of the secrets file the configuration names.

    \b
    Example:
      broadcaster integrations add tg --provider telegram --secret token=TG_TOKEN
      broadcaster integrations add wa --provider whatsapp --secret token \\
          --setting phone_number_id=1234567890
    """
    spec = app.registry.spec(provider)
    values: dict[str, str] = {}
    for key, value in _pairs(settings, "--setting"):
        if key in spec.secret_settings:
            raise click.BadParameter(
                f"{key!r} is a secret and cannot be given on the command line; use --secret {key}=ENV_VAR",
                param_hint="--setting",
            )
        if value is None:
            raise click.BadParameter(f"{key!r} needs a value: {key}=VALUE", param_hint="--setting")
        values[key] = value
    for key, variable in _pairs(secrets, "--secret"):
        if variable is not None:
            if not variable or not variable.replace("_", "").isalnum():
                raise click.BadParameter(
                    f"{key}=... must name an environment variable (letters, digits, _), not hold the secret",
                    param_hint="--secret",
                )
            values[key] = env_reference(variable)
        else:
            values[key] = secret_reference(name, key)
    integration = Integration(name, provider, values)
    resolve_secrets(integration, secrets_file=app.config.secrets_file)  # a missing secret is refused now
    app.service.add_integration(name, provider, values)
    click.echo(f"integration {name} ({provider}) saved")


def _shown_settings(integration: Integration, secret_keys: tuple[str, ...]) -> dict[str, str]:
    shown = {}
    for key, value in integration.settings.items():
        reference = parse_reference(value)
        if reference is not None:
            shown[key] = f"{reference[0]}:{reference[1]}"
        elif key in secret_keys:
            shown[key] = "<hidden>"
        else:
            shown[key] = value
    return shown


def _secret_keys(app: App, provider: str) -> tuple[str, ...]:
    try:
        return app.registry.spec(provider).secret_settings
    except PluginError:
        return ()


@integrations.command("list")
@json_option
@pass_app
def list_integrations(app: App, as_json: bool) -> None:
    """List integrations with their health (secrets show as where they come from).

    \b
    Example:
      broadcaster integrations list --json
    """
    rows: list[dict[str, Any]] = []
    for integration in app.store.list_integrations():
        health = app.store.get_integration_health(integration.name)
        rows.append(
            {
                "name": integration.name,
                "provider": integration.provider,
                "settings": _shown_settings(integration, _secret_keys(app, integration.provider)),
                "health": None if health is None else health.status.value,
                "health_detail": None if health is None else health.detail,
                "health_updated_at": None if health is None else health.updated_at,
                "allows_more": None if health is None else health.allows_more,
            }
        )
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no integrations yet; add one with `broadcaster integrations add`")
        return
    table = SafeTable("name", "provider", "health", "since", "settings")
    for row in rows:
        table.add_row(
            row["name"],
            row["provider"],
            (row["health"] or "unknown (no sends yet)") + _allows_more_note(row["name"], row["allows_more"]),
            format_time(row["health_updated_at"], app.zone),
            " ".join(f"{k}={v}" for k, v in row["settings"].items()),
        )
    console().print(table)


def _allows_more_note(name: str, allows_more: float | None) -> str:
    """The provider took every send at the configured rate, which held them back: say so."""
    if allows_more is None:
        return ""
    return (
        f"; the provider seems to allow more than its configured rate"
        f" (no refusal at it): try rates.{name} = {allows_more:g}"
    )


@integrations.command("check")
@click.argument("name")
@json_option
@pass_app
def check_integration(app: App, name: str, as_json: bool) -> None:
    """Check that NAME is usable: its plugin is installed, its secrets resolve, its settings build a request.

    Nothing is sent. Exit code 1 when a check fails.

    \b
    Example:
      broadcaster integrations check tg
    """
    integration = app.store.get_integration(name)
    checks: list[tuple[str, bool, str]] = []
    spec = None
    try:
        spec = app.registry.spec(integration.provider)
        checks.append(("plugin", True, f"{integration.provider} is provided"))
    except PluginError as exc:
        checks.append(("plugin", False, str(exc)))
    resolved = None
    try:
        resolved = resolve_secrets(integration, secrets_file=app.config.secrets_file)
        checks.append(("secrets", True, "every secret resolves"))
    except ConfigError as exc:
        checks.append(("secrets", False, str(exc)))
    if spec is not None and resolved is not None:
        missing = [key for key in spec.required_settings if not resolved.settings.get(key)]
        checks.append(("settings", not missing, f"missing {', '.join(missing)}" if missing else "complete"))
        if not missing and "text" in {kind.value for kind in spec.kinds}:
            try:
                app.registry.build_call(integration=resolved, chat_id="0", message=TextMessage("check"))
                checks.append(("request", True, "a request can be built"))
            except Exception as exc:  # a plugin's own refusal of its settings, reported, not raised
                checks.append(("request", False, str(getattr(exc, "message", exc))))
    health = app.store.get_integration_health(name)
    ok = all(passed for _, passed, _ in checks)
    if as_json:
        emit_json(
            {
                "name": name,
                "ok": ok,
                "checks": [{"check": c, "ok": passed, "detail": detail} for c, passed, detail in checks],
                "health": None if health is None else health.status.value,
            }
        )
    else:
        for check, passed, detail in checks:
            click.echo(clean(f"{'ok  ' if passed else 'FAIL'} {check}: {detail}"))
        click.echo(f"health: {'unknown (no sends yet)' if health is None else health.status.value}")
    if not ok:
        raise SystemExit(1)


# -- flows ------------------------------------------------------------------------------------


@click.group(cls=BroadcasterGroup)
def flows() -> None:
    """Define flows from files; publish and unpublish them.

    \b
    Example:
      broadcaster flows add welcome.toml
      broadcaster flows unpublish welcome
    """


@flows.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def add_flows(app: App, file: Path) -> None:
    """Define (or replace) the flow(s) in FILE (TOML or JSON).

    \b
    Example welcome.toml:
      id = "welcome"
      name = "Welcome"
      required_fields = ["first_name"]
      [first_card]
      type = "text"                 # or "template" with template, language, params
      text = "Hello from us!"
    Several at once: [[flows]] tables.
    \b
      broadcaster flows add welcome.toml
    """
    found = structure_items(file, read_document(file), "flows", lambda item: structure(item, Flow))
    for flow in found:
        app.store.put_flow(flow)
        click.echo(clean(f"flow {flow.id} saved ({'published' if flow.published else 'unpublished'})"))


@flows.command("list")
@json_option
@pass_app
def list_flows(app: App, as_json: bool) -> None:
    """List flows.

    \b
    Example:
      broadcaster flows list --json
    """
    found = app.store.list_flows()
    if as_json:
        emit_json([unstructure(flow) for flow in found])
        return
    table = SafeTable("id", "name", "published", "first card", "required fields")
    for flow in found:
        card = flow.first_card
        first = f"text: {card.text}" if hasattr(card, "text") else f"template: {card.template}"
        table.add_row(flow.id, flow.name, "yes" if flow.published else "no", first, ",".join(flow.required_fields))
    console().print(table)


def _set_published(app: App, flow_id: str, published: bool) -> None:
    flow = app.store.set_flow_published(flow_id, published)
    click.echo(f"flow {flow.id} {'published' if flow.published else 'unpublished'}")


@flows.command("publish")
@click.argument("flow_id")
@pass_app
def publish_flow(app: App, flow_id: str) -> None:
    """Publish FLOW_ID (broadcasts using it can send).

    \b
    Example:
      broadcaster flows publish welcome
    """
    _set_published(app, flow_id, True)


@flows.command("unpublish")
@click.argument("flow_id")
@pass_app
def unpublish_flow(app: App, flow_id: str) -> None:
    """Unpublish FLOW_ID: a broadcast using it skips the contacts it has not reached yet.

    \b
    Example:
      broadcaster flows unpublish welcome
    """
    _set_published(app, flow_id, False)


# -- templates --------------------------------------------------------------------------------


@click.group(cls=BroadcasterGroup)
def templates() -> None:
    """Define the templates each integration knows.

    \b
    Example:
      broadcaster templates add promo.toml
      broadcaster templates list --integration wa
    """


def _template_item(item: dict[str, Any]) -> tuple[str, Template]:
    fields = dict(item)
    integration = fields.pop("integration", None)
    if not isinstance(integration, str) or not integration:
        raise ValueError("needs integration, the integration the template is approved on")
    return integration, structure(fields, Template)


@templates.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def add_templates(app: App, file: Path) -> None:
    """Define (or replace) the template(s) in FILE (TOML or JSON).

    \b
    Example promo.toml:
      integration = "wa"
      name = "promo"
      language = "en"
      param_count = 1
      body = "Hi {{1}}, our sale starts today."
    Several at once: [[templates]] tables.
    \b
      broadcaster templates add promo.toml
    """
    found = structure_items(file, read_document(file), "templates", _template_item)
    known = {integration.name for integration in app.store.list_integrations()}
    for integration, _ in found:
        if integration not in known:
            raise CliError(
                f"{file}: integration {integration!r} does not exist",
                hint=f"known: {', '.join(sorted(known)) or 'none'}; add it with `broadcaster integrations add`",
            )
    for integration, template in found:
        app.store.put_template(integration, template)
        click.echo(clean(f"template {template.name} ({template.language}) saved for {integration}"))


@templates.command("list")
@click.option("--integration", default=None, help="Only this integration's templates.")
@json_option
@pass_app
def list_templates(app: App, integration: str | None, as_json: bool) -> None:
    """List templates.

    \b
    Example:
      broadcaster templates list --integration wa --json
    """
    found = app.store.list_templates(integration)
    if as_json:
        emit_json([{"integration": name, **unstructure(template)} for name, template in found])
        return
    table = SafeTable("integration", "name", "language", "params", "body")
    for name, template in found:
        table.add_row(name, template.name, template.language, str(template.param_count), template.body)
    console().print(table)

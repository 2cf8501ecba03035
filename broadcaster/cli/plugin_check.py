"""``broadcaster plugins check PROVIDER``: run the conformance kit against an installed plugin."""

from __future__ import annotations

import click

from .base import App, CliError, pass_app

__all__ = ["check"]


def _fake_settings(app: App, provider: str) -> dict[str, str]:
    # The provider's own fake knows settings of the right shape; otherwise a placeholder
    # per required setting (long enough for the kit's leak checks to mean something).
    info = app.registry.info(provider)
    fake = info.provider_object.fake
    if fake is not None:
        return dict(fake.settings)
    names = (*info.spec.required_settings, *info.spec.secret_settings)
    return {name: f"kit-{name}-0123456789" for name in dict.fromkeys(names)}


@click.command()
@click.argument("provider")
@click.option(
    "--examples",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Hypothesis examples per property (more finds rarer bugs, takes longer).",
)
@click.option("--setting", "settings", multiple=True, metavar="KEY=VALUE", help="A test setting (fake values only).")
@pass_app
def check(app: App, provider: str, examples: int, settings: tuple[str, ...]) -> None:
    """Run the plugin conformance kit against the installed PROVIDER.

    It builds requests, feeds the provider's codec hostile replies (random statuses and
    bodies, truncated JSON, bad retry hints, its own secrets echoed back) and garbage
    callbacks, and checks every promise of docs/writing-a-plugin.md. Settings come from
    the provider's fake, else placeholders; override them with --setting (fake values).

    \b
    Example:
      broadcaster plugins check ntfy
      broadcaster plugins check telegram --examples 500
    """
    try:
        from ..testing.conformance import ConformanceError, check_provider_conformance
    except ImportError as exc:  # hypothesis is a test dependency
        raise CliError(f"the conformance kit needs {exc.name or 'hypothesis'}", hint="pip install hypothesis") from None
    from ..core.models import Integration

    values = _fake_settings(app, provider)
    for pair in settings:
        key, sep, value = pair.partition("=")
        if not key or not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--setting")
        values[key.strip()] = value
    integration = Integration(f"{provider}-kit", provider, values)
    try:
        check_provider_conformance(None, provider=provider, integration=integration, max_examples=examples)
    except ConformanceError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise click.ClickException(f"{provider}: the conformance kit failed: {first}") from None
    click.echo(f"{provider}: the conformance kit passed ({examples} examples per property)")

"""The ``flask --app webapp …`` commands for operators."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from ..history.sync import has_history, sync_all
from ..pages.demo_links import parse_expiry, sign_demo_link
from ..providers import registry
from ..state import app_state

history = AppGroup("history", help="The call log: pull the providers' own call history into it.")


@click.command("demo-link")
@with_appcontext
@click.argument("slug")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A preset prompt variable.")
@click.option(
    "--expires",
    default="7d",
    show_default=True,
    help="How long the link works (30m, 12h, 7d, 2w) or until when (2026-12-31).",
)
@click.option(
    "--base-url", default="http://127.0.0.1:8000", show_default=True, help="Where webcall is served."
)
def demo_link_command(slug: str, variables: tuple[str, ...], expires: str, base_url: str) -> None:
    """Print a signed, expiring sales-demo link for the agent SLUG."""
    settings = app_state().settings
    if slug not in settings.agents:
        raise click.BadParameter(f"no agent {slug!r}; known: {', '.join(sorted(settings.agents))}")
    if not settings.secret_key_configured:
        raise click.UsageError("set WEBCALL_SECRET_KEY (the same value the server uses) to sign links")
    preset: dict[str, str] = {}
    for item in variables:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--var")
        preset[name] = value
    try:
        expires_at = parse_expiry(expires, now=time.time())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    token = sign_demo_link(settings.secret_key, slug, preset, expires_at)
    click.echo(f"{base_url.rstrip('/')}/demo/{slug}?t={token}")


def parse_since(value: str | None) -> datetime | None:
    """An ISO 8601 date or time; without a zone it is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time", param_hint="--since") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@history.command("sync")
@click.option(
    "--provider",
    type=click.Choice(sorted(name for name, spec in registry().items() if has_history(spec.adapter))),
    help="Only this provider (default: every provider an agent uses).",
)
@click.option(
    "--since",
    metavar="ISO-8601",
    help="Calls started at or after this (default: a day before the newest call already synced; "
    "everything the first time).",
)
def sync_command(provider: str | None, since: str | None) -> None:
    """Pull each configured agent's calls from its provider into the call log.

    Exits with status 1 when a provider's sync stopped early (a refused key, a rate limit,
    a provider that is down); pages or calls it could not read are skipped and counted.
    """
    state = app_state()
    agents = state.settings.agents.values()
    if provider is not None and not any(agent.provider == provider for agent in agents):
        raise click.UsageError(f"no agent uses provider {provider!r}")
    if provider is not None and provider not in state.providers:
        raise click.UsageError(f"provider {provider!r} is not configured (its credentials are not set)")
    reports = sync_all(state.providers, agents, state.history, only=provider, since=parse_since(since))
    if not reports:
        click.echo("no agent uses a provider whose call history can be read")
    for report in reports:
        click.echo(report.summary())
    if any(report.errors for report in reports):
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(demo_link_command)
    app.cli.add_command(history)

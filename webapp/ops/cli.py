"""The ``flask --app webapp …`` commands for operators."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import with_appcontext

from ..pages.demo_links import parse_expiry, sign_demo_link
from ..state import app_state


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


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(demo_link_command)

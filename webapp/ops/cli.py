"""The ``flask --app webapp …`` commands for operators."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from markupsafe import escape

from ..admin.link_models import DemoLinkExtension, extend_link, link_request
from ..catalogue import Agent
from ..errors import (
    AppError,
    InvalidField,
    ProviderAuthError,
    ProviderTimeout,
    ProviderUnavailable,
    UnknownDemoLink,
)
from ..history.store import CallLogError
from ..history.sync import has_history, sync_all
from ..pages.demo_links import (
    MAX_CALLS,
    MAX_LABEL_CHARS,
    DemoLink,
    issue_link,
    named_link,
    new_link_id,
    parse_expiry,
    parse_label,
    parse_variables,
)
from ..pages.words import LANGUAGES
from ..providers import WebCallRequest, registry
from ..settings import origin_url
from ..state import AppState, app_state

history = AppGroup(
    "history", help="The call log: pull the providers' own call history into it, or delete old records."
)


Value = TypeVar("Value")
# The page's language for a link or an embed (the agent's page_language when left out).
LANG_OPTION = click.option(
    "--lang", type=click.Choice(LANGUAGES), default=None, help="The page's language  [default: the agent's]"
)


def base_url_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--base-url``: an origin, as WEBCALL_PUBLIC_URL is (``notaurl`` made a link to nowhere)."""
    if value is None:
        return None
    try:
        return origin_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("demo-link")
@with_appcontext
@click.argument("slug")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A preset prompt variable.")
@click.option(
    "--expires",
    default="7d",
    show_default=True,
    help="How long the link works (30m, 12h, 7d, 2w) or until when (2026-12-31: through that day, UTC).",
)
@click.option(
    "--base-url",
    default=None,
    callback=base_url_option,
    help="Where webcall is served  [default: WEBCALL_PUBLIC_URL, else http://127.0.0.1:8000]",
)
@click.option(
    "--label",
    default=None,
    help=f'Who the link is for ("Acme pilot"; at most {MAX_LABEL_CHARS} characters), for the call log '
    "and the admin view; readable by whoever has the link  [default: its variables]",
)
@click.option(
    "--max-calls",
    type=click.IntRange(1, MAX_CALLS),
    default=None,
    help="The calls the link may place, then it has ended (phone callbacks from its page count too)  "
    "[default: any number until it expires]",
)
@LANG_OPTION
def demo_link_command(
    slug: str,
    variables: tuple[str, ...],
    expires: str,
    base_url: str | None,
    label: str | None,
    max_calls: int | None,
    lang: str | None,
) -> None:
    """Print a signed, expiring sales-demo link for the agent SLUG."""
    settings = app_state().settings
    base_url = base_url or settings.public_url or "http://127.0.0.1:8000"
    if slug not in settings.agents:
        raise click.BadParameter(f"no agent {slug!r}; known: {', '.join(sorted(settings.agents))}")
    if not settings.secret_key_configured:
        raise click.UsageError("set WEBCALL_SECRET_KEY (the same value the server uses) to sign links")
    preset = option_value("--var", lambda: parse_variables(variables))
    expires_at = option_value("--expires", lambda: parse_expiry(expires, now=time.time()))
    link = DemoLink(
        agent=slug,
        variables=preset,
        expires_at=expires_at,
        link_id=new_link_id(),
        label=option_value("--label", lambda: parse_label(label)),
        max_calls=max_calls,
    )
    issued = option_value(
        "--var", lambda: issue_link(app_state(), link, base_url=base_url, lang=lang, by="cli")
    )
    if issued.unkept is not None:  # the link works all the same: it is signed, not stored
        note = "note: the link works, but the admin view will not list it before its first call"
        click.echo(f"{note}: {issued.unkept}", err=True)
    click.echo(issued.url)


def option_value(hint: str, read: Callable[[], Value]) -> Value:
    """What ``read`` makes of an option, its ``ValueError`` the usage error of the option ``hint``."""
    try:
        return read()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


@click.command("embed-snippet")
@with_appcontext
@click.argument("slug")
@click.option(
    "--base-url",
    default=None,
    callback=base_url_option,
    help="Where webcall is served  [default: WEBCALL_PUBLIC_URL, else http://127.0.0.1:8000]",
)
@LANG_OPTION
def embed_snippet_command(slug: str, base_url: str | None, lang: str | None) -> None:
    """Print the script and iframe embeds of the agent SLUG, to paste into a site's HTML."""
    settings = app_state().settings
    agent = settings.agents.get(slug)
    if agent is None:
        raise click.BadParameter(f"no agent {slug!r}; known: {', '.join(sorted(settings.agents))}")
    base = escape((base_url or settings.public_url or "http://127.0.0.1:8000").rstrip("/"))
    data_lang, query = (f' data-lang="{lang}"', f"?lang={lang}") if lang else ("", "")
    click.echo(f"""<script src="{base}/embed.js" data-agent="{slug}"{data_lang} async></script>""")
    click.echo(
        f"""<iframe src="{base}/embed/{slug}{query}" allow="{"; ".join(frame_permissions(agent))}" """
        f"""title="{escape(agent.title)}" style="width:100%;height:640px;border:0"></iframe>"""
    )
    if not agent.allowed_origins:
        click.echo(f"note: {slug} lists no allowed_origins, so no other site may embed it", err=True)


def frame_permissions(agent: Agent) -> list[str]:
    """What an iframe of ``agent``'s embed must allow: the devices its page may use (the same the
    page's own Permissions-Policy grants) and autoplay for the agent's voice."""
    used = [name.replace("_", "-") for name, on in agent.browser_devices().items() if on]
    return [*used, "autoplay"]


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check the configuration (already valid if this runs) and reach each configured provider
    (its credentials set), whether or not an agent uses it yet; exit 1 when one an agent uses fails."""
    state = app_state()
    configured = sorted(state.providers)
    rows, failed = [], False
    for name in configured:
        adapter = state.providers[name]
        started = time.perf_counter()
        try:
            adapter.check_access()  # type: ignore[attr-defined]
            outcome, detail = "ok", "reached with our credentials"
        except AppError as error:
            outcome, detail = "FAILED", f"{error.code}: {_what_to_check(state, name, error)}"
        agents = ", ".join(a.slug for a in state.settings.agents.values() if a.provider == name)
        failed = failed or (outcome == "FAILED" and bool(agents))
        took = f"{(time.perf_counter() - started) * 1000:.0f} ms"
        rows.append((name, outcome, took, agents or "(no agent)", detail))
    _table(("provider", "check", "took", "agents", "detail"), rows)
    if failed:
        raise SystemExit(1)


def _what_to_check(state: AppState, provider: str, error: AppError) -> str:
    """What the operator can do about ``error`` (its message is a caller's: "please try again")."""
    settings = state.settings.providers.get(provider)
    address = urlsplit(str(getattr(settings, "base_url", "") or getattr(settings, "url", "") or ""))
    # The host and port alone: never a user and password written into the URL.
    where = f"{address.hostname}:{address.port}" if address.port else address.hostname or ""
    if isinstance(error, ProviderAuthError) and settings is not None:
        return f"our credentials were refused: check {', '.join(settings.credential_vars().values())}"
    if isinstance(error, ProviderTimeout) and where:
        return f"{where} did not answer in time: check the address, the network and any proxy"
    if isinstance(error, ProviderUnavailable) and where:
        return f"{where} could not be reached, or answered a server error: check the address and the network"
    return error.message


@click.command("agents")
@with_appcontext
def agents_command() -> None:
    """List the agent catalogue."""
    settings = app_state().settings
    rows = [
        (
            a.slug,
            a.provider,
            a.agent_id,
            a.title,
            str(a.max_call_s or "-"),
            ", ".join(a.allowed_origins) or "-",
        )
        for a in settings.agents.values()
    ]
    _table(("slug", "provider", "agent id", "title", "max_call_s", "allowed origins"), rows)


@click.command("token")
@with_appcontext
@click.argument("slug")
@click.option("--name", default="Tester", show_default=True, help="The participant's display name.")
def token_command(slug: str, name: str) -> None:
    """Mint a test participant token for the livekit agent SLUG (JSON: url, token, room, identity)."""
    state = app_state()
    agent = state.settings.agents.get(slug)
    if agent is None:
        raise click.BadParameter(f"no agent {slug!r}; known: {', '.join(sorted(state.settings.agents))}")
    if agent.provider != "livekit":
        raise click.BadParameter(
            f"{slug!r} is a {agent.provider} agent: only livekit agents' tokens are ours"
        )
    call = state.provider_for(agent).create_web_call(  # type: ignore[attr-defined]
        WebCallRequest(
            agent=agent, variables=dict(agent.variables), participant_name=name, mode=agent.modes[0]
        )
    )
    expires_at = call.expires_at.isoformat() if call.expires_at else None
    answer = {"url": call.livekit_url, "token": call.token, "room": call.room, "identity": call.identity,
              "expires_at": expires_at}  # fmt: skip
    click.echo(json.dumps(answer))


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Print aligned columns."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def parse_since(value: str | None) -> datetime | None:
    """An ISO 8601 date or time; without a zone it is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time", param_hint="--since") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # within hours of year 1 or 9999: in UTC it falls outside them
        problem = f"{value!r} is before year 1 or after year 9999 in UTC"
        raise click.BadParameter(problem, param_hint="--since") from None


@history.command("sync")
@click.option(
    "--provider",
    type=click.Choice(sorted(name for name, spec in registry().items() if has_history(spec.adapter))),
    help="Only this provider (default: every provider an agent uses).",
)
@click.option(
    "--since",
    metavar="ISO-8601",
    help="Calls started after this (Ravan's started_after leaves out one that started at this very "
    "instant; default: where the last run that missed a page started, else a day before the last "
    "run that read every page of an agent's calls began; everything the first time and for a new "
    "agent; a run that stopped is gone on from where it stopped, which a run with --since leaves "
    "as it is).",
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


@history.command("prune")
@click.option(
    "--older-than",
    "days",
    metavar="DAYS",
    type=click.IntRange(min=1, max=36_500),  # a century: a larger one is a typo (and past datetime's range)
    required=True,
    help="Delete the records created more than DAYS days ago.",
)
@click.option(
    "--refusals-only",
    is_flag=True,
    help="Only the requests webcall refused (limits, bad input, a provider's refusal); placed calls stay.",
)
def prune_command(days: int, refusals_only: bool) -> None:
    """Delete old records from the call log, transcripts included: to keep what callers said no
    longer than your policy allows, or to clear the refusals a flood of requests left. Run it
    from cron; it deletes in batches, so calls are recorded meanwhile."""
    before = datetime.now(UTC) - timedelta(days=days)
    try:
        deleted = app_state().history.prune(before, refusals_only=refusals_only)
    except CallLogError as error:
        raise click.ClickException(f"the call log could not be pruned: {error}") from None
    what = "refused requests" if refusals_only else "records"
    click.echo(f"{deleted} {what} created before {before:%Y-%m-%d %H:%M} UTC deleted")


@history.command("resend-events")
@click.option(
    "--since", metavar="ISO-8601", help="Only events that happened at or after this (UTC without a zone)."
)
def resend_events_command(since: str | None) -> None:
    """Send again the events given up (WEBCALL_EVENTS_URL refused them, or did not answer, eight
    times): after a long outage of your receiver, say. The app's processes send them within
    seconds, each with its own id as before, so a receiver that got one drops it."""
    state = app_state()
    if not state.settings.events_url:
        raise click.UsageError("WEBCALL_EVENTS_URL is not set: there are no events to send")
    try:
        queued = state.history.resend_given_up(parse_since(since), datetime.now(UTC))
    except CallLogError as error:
        raise click.ClickException(f"the call log could not be read: {error}") from None
    click.echo(f"{queued} event{'' if queued == 1 else 's'} given up queued to be sent again")


@click.command("revoke-demo-link")
@with_appcontext
@click.argument("link")
@click.option("--restore", is_flag=True, help="Let the link work again, until it expires.")
def revoke_demo_link_command(link: str, restore: bool) -> None:
    """Take back a sales-demo link before it expires: from now on its page and its calls are
    refused, as an expired link's are. LINK is the link, its token, or its id (dl_…, shown in the
    admin view beside its calls)."""
    state = app_state()
    link_id, which = _link_named(state, link)
    try:
        if restore:
            restored = state.history.restore_demo_link(link_id)
            click.echo(f"{which} works again, until it expires" if restored else f"{which} was not revoked")
            return
        at = state.history.revoke_demo_link(link_id, datetime.now(UTC))
    except CallLogError as error:
        raise click.ClickException(f"the call log could not be changed: {error}") from None
    click.echo(f"{which} revoked at {at:%Y-%m-%d %H:%M:%S} UTC: its page and its calls are refused")


@click.command("extend-demo-link")
@with_appcontext
@click.argument("link")
@click.option(
    "--expires",
    metavar="DURATION|DATE",
    help="How long it works from now (30m, 12h, 7d, 2w) or until when (2026-12-31: through that day, UTC): "
    "later than it works until now; ten years at most.",
)
@click.option(
    "--max-calls",
    type=click.IntRange(1, MAX_CALLS),
    help="The calls it may place in all, those placed included: more than it may now.",
)
def extend_demo_link_command(link: str, expires: str | None, max_calls: int | None) -> None:
    """Let a sales-demo link made here work longer or place more calls, at the same address: its
    page and its calls are taken until the new expiry, up to the new number (to end one sooner,
    revoke it). LINK is the link, its token, or its id (dl_…, shown in the admin view beside its
    calls)."""
    state = app_state()
    link_id, which = _link_named(state, link)
    if expires is None and max_calls is None:
        raise click.UsageError("give --expires, --max-calls or both")
    asked: dict[str, Any] = {"expires": expires} if expires is not None else {}
    if max_calls is not None:
        asked["max_calls"] = max_calls
    try:
        extend_link(state, link_id, link_request(DemoLinkExtension, asked), by="cli")
        grant = state.history.demo_link_standing(link_id).grant
    except CallLogError as error:
        raise click.ClickException(f"the call log could not be changed: {error}") from None
    except UnknownDemoLink:
        raise click.BadParameter("no demo link with this id was made here", param_hint="LINK") from None
    except InvalidField as refused:  # "expires: …", "max_calls: …" or "expires must be …"
        option = "--max-calls" if refused.message.startswith("max_calls") else "--expires"
        reason = re.sub(r"^(expires|max_calls): ", "", refused.message)
        raise click.BadParameter(reason, param_hint=option) from None
    if grant is not None:  # (another process may have pruned it meanwhile)
        calls = (
            f", for {grant.max_calls:,} call{'' if grant.max_calls == 1 else 's'}" if grant.max_calls else ""
        )
        click.echo(f"{which} works until {grant.expires_at:%Y-%m-%d %H:%M:%S} UTC{calls}")


def _link_named(state: AppState, link: str) -> tuple[str, str]:
    """The id of the demo link ``link`` names (the link, its token or its id), and how to name it
    in a message; ``click.BadParameter`` for anything else."""
    try:
        link_id, named = named_link(state.settings.secret_key, link)
    except AppError:
        raise click.BadParameter(
            "not a demo link this app signed (is WEBCALL_SECRET_KEY the server's?), nor a link's id (dl_…)",
            param_hint="LINK",
        ) from None
    return link_id, f"{link_id} ({named.name})" if named and named.name else link_id


def init_app(app: Flask) -> None:
    """Register the commands."""
    commands = (
        demo_link_command, revoke_demo_link_command, extend_demo_link_command, embed_snippet_command,
        check_command, agents_command, token_command,
    )  # fmt: skip
    for command in (*commands, history):
        app.cli.add_command(command)

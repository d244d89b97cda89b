"""The error tree: every failure a client or an operator can see, and nothing else.

Every error a client can see is an :class:`AppError` with an HTTP status and a stable,
machine-readable ``code``; each code is its own class, so an endpoint can list what it
raises and the OpenAPI document is built from that list. Messages are written for people
and never contain a provider's body, a stack trace or a secret. This module is a leaf: it
imports nothing of ours, and the handlers that render it live with the app's wiring
(:mod:`webapp.ops.error_handlers`).
"""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason, so one restart fixes all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("webcall is not configured correctly:\n  - " + "\n  - ".join(problems))


class StartupRefused(SystemExit, ConfigError):
    """A :class:`ConfigError` as ``create_app()`` raises it: its problems are printed already, and
    as a ``SystemExit`` with ``status`` (gunicorn's 3: "this worker can never boot") it stops
    gunicorn's master and the ``flask`` command without a traceback. Code that builds the app
    itself can catch it as the ``ConfigError`` it is."""

    def __init__(self, error: ConfigError, status: int) -> None:
        ConfigError.__init__(self, error.problems)
        self.code = status


class AppError(Exception):
    """Base of every error rendered to clients as ``{"error": {"code", "message"}}``."""

    status_code = 500
    code = "internal_error"
    message = "Something went wrong on our side. Please try again."
    www_authenticate: str | None = None  # sent as WWW-Authenticate with a 401

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.retry_after_s = retry_after_s


# --- 400: the request is malformed ----------------------------------------------------


class BadRequest(AppError):
    """The request is malformed or breaks a documented limit."""

    status_code = 400
    code = "bad_request"
    message = "The request is not valid."


class InvalidJson(BadRequest):
    """The body is not UTF-8 JSON."""

    code = "invalid_json"
    message = "The request body is not valid UTF-8 JSON."


class InvalidBody(BadRequest):
    """The body is JSON, but not an object."""

    code = "invalid_body"
    message = "The request body must be a JSON object."


class UnknownField(BadRequest):
    """The body names a field the endpoint does not take (room, identity, …: never the client's)."""

    code = "unknown_field"
    message = "The request body has a field this endpoint does not take."


class InvalidField(BadRequest):
    """A field breaks its rule (type, length, characters)."""

    code = "invalid_field"


class AgentRequired(BadRequest):
    """The body names no agent and there is more than one."""

    code = "agent_required"
    message = "Name the agent to call in the 'agent' field."


class InvalidPhoneNumber(BadRequest):
    """The phone number is not a valid, complete number."""

    code = "invalid_phone_number"
    message = "That doesn't look like a complete phone number. Please check it, with its country."


class PhoneExtension(InvalidPhoneNumber):
    """A number with an extension: the providers dial E.164, which has none (the call would miss)."""

    message = "We can't dial an extension. Please give a number that rings you directly, such as a mobile."


class ConsentRequired(BadRequest):
    """A phone callback needs the caller's explicit consent."""

    code = "consent_required"
    message = "Please confirm that we may call this number."


class InvalidIdempotencyKey(BadRequest):
    """The ``Idempotency-Key`` header is malformed."""

    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 128 letters, digits or -_.:"


class InvalidWebhook(BadRequest):
    """A webhook's body is not the provider's documented event."""

    code = "invalid_webhook"
    message = "The body is not a webhook event this endpoint takes."


class InvalidQuery(BadRequest):
    """A query parameter breaks its rule."""

    code = "invalid_query"
    message = "A query parameter is not valid."


# LiveKit's token endpoint (``POST /api/token``): fields of LiveKit's request a client may not choose.


class RoomNameNotAllowed(BadRequest):
    """The request names the room (``room_name``, ``room_config.name``): the server names it."""

    code = "room_name_not_allowed"
    message = "The server names the room: leave room_name and room_config.name out."


class IdentityNotAllowed(BadRequest):
    """The request sets ``participant_identity``: the server chooses every identity."""

    code = "participant_identity_not_allowed"
    message = "The server chooses each participant's identity: leave participant_identity out."


class FieldNotAllowed(BadRequest):
    """The request sets something the server decides (metadata, attributes, room or dispatch settings)."""

    code = "field_not_allowed"
    message = "This field is chosen by the server: leave it out."


class OneAgentOnly(BadRequest):
    """The request dispatches more than one agent: a call has exactly one."""

    code = "one_agent_only"
    message = "A call has exactly one agent: name one in room_config.agents."


class AgentNameRequired(BadRequest):
    """The request names no agent and there is more than one."""

    code = "agent_name_required"
    message = "Name the agent to call in room_config.agents[0].agent_name."


# --- 401: who is asking ---------------------------------------------------------------------


class AdminTokenRequired(AppError):
    """The admin API needs ``Authorization: Bearer <WEBCALL_ADMIN_TOKEN>``, and this was not it."""

    status_code = 401
    code = "admin_token_required"
    message = "Send Authorization: Bearer <WEBCALL_ADMIN_TOKEN>."
    www_authenticate = 'Bearer realm="webcall admin"'


class AdminSignInRequired(AppError):
    """The admin page's live count was asked for without a signed-in session (it expired, say)."""

    status_code = 401
    code = "signed_out"
    message = "Sign in again to see the calls in progress."


class InvalidWebhookSignature(AppError):
    """A webhook without its sender's signature of its body (missing, wrong or stale): LiveKit's by our
    key pair, Retell's by its API key."""

    status_code = 401
    code = "invalid_webhook_signature"
    message = "The webhook's signature is not a valid signature of its body."


# --- 403 / 404 / 409 / 410: refused ------------------------------------------------------


class OriginNotAllowed(AppError):
    """The calling page's origin may not start calls for this agent."""

    status_code = 403
    code = "origin_not_allowed"
    message = "This site is not allowed to start calls with this agent."


class ModeNotAllowed(AppError):
    """The body asks for a kind of call (voice, text) the agent's configuration does not take."""

    status_code = 403
    code = "mode_not_allowed"
    message = "This agent does not take that kind of call."


class BotCheckRequired(AppError):
    """A bot check is configured and the request carried no token."""

    status_code = 403
    code = "bot_check_required"
    message = "We could not confirm you are a person. Please reload the page and try again."


class BotCheckFailed(AppError):
    """The visitor did not pass the bot check."""

    status_code = 403
    code = "bot_check_failed"
    message = "We could not confirm you are a person. Please reload the page and try again."


class NumberTypeNotAllowed(AppError):
    """Premium-rate, shared-cost, UAN, personal and other lines are never dialled."""

    status_code = 403
    code = "number_type_not_allowed"
    message = "We can't call this kind of number. Please give a mobile or landline number."


class CountryNotAllowed(AppError):
    """The number is outside the agent's allowed countries."""

    status_code = 403
    code = "country_not_allowed"
    message = "We can't call numbers in that country."


class PhoneCallsDisabled(AppError):
    """The agent does not place phone calls."""

    status_code = 403
    code = "phone_calls_disabled"
    message = "This agent doesn't call phones."


class WebCallsDisabled(AppError):
    """The agent places phone calls only (UnleashX)."""

    status_code = 403
    code = "web_calls_disabled"
    message = "This agent takes phone calls only: ask it to call your phone instead."


class InvalidWebhookToken(AppError):
    """The webhook URL's secret is not ours."""

    status_code = 403
    code = "invalid_webhook_token"
    message = "This webhook address is not valid."


class WrongWebhookOrg(AppError):
    """The webhook came from another organisation's account."""

    status_code = 403
    code = "wrong_org"
    message = "This webhook is for another organisation."


class InvalidDemoLink(AppError):
    """A demo link was changed after it was signed, or was never ours."""

    status_code = 403
    code = "invalid_demo_link"
    message = "This demo link is not valid. Ask for a new one."


class DemoLinksDisabled(AppError):
    """Demo links are signed with ``WEBCALL_SECRET_KEY``, which is not set."""

    status_code = 403
    code = "demo_links_disabled"
    message = "Set WEBCALL_SECRET_KEY on the server to sign demo links."


class EventsDisabled(AppError):
    """Events are off: ``WEBCALL_EVENTS_URL`` is not set."""

    status_code = 403
    code = "events_disabled"
    message = "Events are off: set WEBCALL_EVENTS_URL and WEBCALL_EVENTS_SECRET on the server."


class UnknownAgent(AppError):
    """The requested agent slug is not in the catalogue."""

    status_code = 404
    code = "unknown_agent"
    message = "There is no agent with that name."


class MetricsTokenRequired(AppError):
    """``/metrics`` answers only the scraper holding ``WEBCALL_METRICS_TOKEN``."""

    status_code = 401
    code = "metrics_token_required"
    www_authenticate = 'Bearer realm="webcall metrics"'
    message = "Send the metrics token as Authorization: Bearer <token>."


class UnknownCall(AppError):
    """No call in the log has this id (ours or the provider's)."""

    status_code = 404
    code = "unknown_call"
    message = "There is no call with that id."


class UnknownDemoLink(AppError):
    """The call log knows no demo link with this id: not made here, never used, never revoked."""

    status_code = 404
    code = "unknown_demo_link"
    message = "There is no demo link with that id."


class UnknownEvent(AppError):
    """The call log keeps no event with this id (pruned, or never one)."""

    status_code = 404
    code = "unknown_event"
    message = "There is no event with that id."


class UnknownCallSession(AppError):
    """A webhook names a call session the call log does not have."""

    status_code = 404
    code = "unknown_call_session"
    message = "There is no call with that session id; send it again once the call is known."


class NotFound(AppError):
    """No such address."""

    status_code = 404
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(AppError):
    """The address exists, the method does not."""

    status_code = 405
    code = "method_not_allowed"
    message = "Method not allowed."


class CallInProgress(AppError):
    """The same idempotency key is still being served (by us, or by the provider), or the last
    calls of a demo link limited to a number of them are being started by others."""

    status_code = 409
    code = "call_in_progress"
    message = "This call is already being started. Please wait a moment."


class IdempotencyKeyReused(AppError):
    """An Idempotency-Key already used (within the window) for a request that asked for something
    else: a conflict with that request, as a key still being served is (Stripe answers both so)."""

    status_code = 409
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request. Send a new key for a new call."


class FeedbackNotAsked(AppError):
    """The call's agent does not ask its callers for feedback (its ``feedback`` setting is off)."""

    status_code = 403
    code = "feedback_not_asked"
    message = "This agent does not take feedback."


class FeedbackClosed(AppError):
    """Feedback on a call is taken for a day after it started; this one is older."""

    status_code = 410
    code = "feedback_closed"
    message = "Feedback on this call is closed."


class ExpiredDemoLink(AppError):
    """A demo link's expiry has passed; its subclasses say why a link ended before that (the
    same code: it has ended either way)."""

    status_code = 410
    code = "demo_link_expired"
    message = "This demo link has expired. Ask for a new one."


class UsedUpDemoLink(ExpiredDemoLink):
    """A demo link limited to a number of calls has placed them all."""

    message = "This demo link has no calls left. Ask for a new one."


class RevokedDemoLink(ExpiredDemoLink):
    """A demo link was taken back (revoked) before its expiry."""

    message = "This demo link is no longer active. Ask for a new one."


class RequestTimeout(AppError):
    """The client stopped sending its request's body."""

    status_code = 408
    code = "request_timeout"
    message = "The request body did not arrive in time. Please try again."


class PayloadTooLarge(AppError):
    """The body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UriTooLong(AppError):
    """The request line (the path and its query) is longer than the server reads."""

    status_code = 414
    code = "uri_too_long"
    message = "The address requested is too long."


class UnsupportedMediaType(AppError):
    """The body is not ``application/json``."""

    status_code = 415
    code = "unsupported_media_type"
    message = "Send the request body as JSON (Content-Type: application/json)."


class ExpectationFailed(AppError):
    """The request's ``Expect`` header asks for something the server does not do."""

    status_code = 417
    code = "expectation_failed"
    message = "The request's Expect header is not supported."


class RequestHeadersTooLarge(AppError):
    """The request has more headers, or a longer one, than the server reads."""

    status_code = 431
    code = "request_headers_too_large"
    message = "The request headers are too large."


# --- 429: too many -------------------------------------------------------------------------


class RateLimited(AppError):
    """Too many calls from this client or for everyone; the ``Retry-After`` header says when to retry."""

    status_code = 429
    code = "rate_limited"
    message = "Too many calls right now. Please wait a moment and try again."


class TooManyWrongTokens(RateLimited):
    """Too many wrong admin tokens from this client; the ``Retry-After`` header says when to retry."""

    message = "Too many wrong tokens. Please wait before trying again."


class AgentBusy(RateLimited):
    """The agent's per-minute cap is reached."""

    code = "agent_busy"
    message = "This agent is taking a lot of calls right now. Please try again in a minute."


class NumberCooldown(RateLimited):
    """The same number was called moments ago."""

    code = "number_cooldown"
    message = "We called this number a moment ago. Please wait a few minutes before asking again."


class NumberDailyCap(RateLimited):
    """The number has had all the calls it may get today."""

    code = "number_daily_cap"
    message = "This number has had all the calls we can make to it today."


class DailyBudgetExhausted(RateLimited):
    """The agent's daily budget is spent."""

    code = "daily_budget_exhausted"
    message = "This agent has taken all the calls it can today. Please come back tomorrow."


# --- 5xx: the provider or a service we depend on ----------------------------------------------


class ProviderError(AppError):
    """The voice provider refused the call or answered something unusable."""

    status_code = 502
    code = "provider_error"
    message = "The voice service could not start the call. Please try again shortly."
    upstream_status: int | None = None  # the provider's HTTP status, when it answered one
    never_sent: bool = False  # the request never reached the provider: its circuit open, no connection


class ProviderAuthError(ProviderError):
    """The provider rejected our credentials: an operator problem, not the caller's."""

    code = "provider_auth_failed"


class ProviderBadResponse(ProviderError):
    """The provider answered with something that is not a usable call."""

    code = "provider_bad_response"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, or is failing fast after repeated errors."""

    code = "provider_unavailable"
    message = "The voice service is unavailable right now. Please try again shortly."


class ProviderBusy(ProviderError):
    """The provider rate-limited us (a refusal: 502); retry after the ``Retry-After`` header's seconds."""

    code = "provider_busy"
    message = "The voice service is busy right now. Please try again in a moment."


class BotCheckUnavailable(AppError):
    """The bot-check service could not answer; we fail closed."""

    status_code = 503
    code = "bot_check_unavailable"
    message = "We could not check the request right now. Please try again in a moment."


class LimitsUnavailable(AppError):
    """The limits' storage (Redis) could not be reached: nothing was counted, so nothing is started."""

    status_code = 503
    code = "limits_unavailable"
    message = "We could not check the call limits right now. Please try again in a moment."


class CallLogUnavailable(AppError):
    """The call log's database could not be used; try again shortly."""

    status_code = 503
    code = "call_log_unavailable"
    message = "The call log is unavailable right now. Please try again shortly."


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""

    status_code = 504
    code = "provider_timeout"
    message = "The voice service took too long to answer. Please try again."


# --- 501: what the server does not do ---------------------------------------------------


class TransferCodingNotSupported(AppError):
    """The body is sent in a transfer coding the server does not read (only chunked is)."""

    status_code = 501
    code = "transfer_coding_not_supported"
    message = "The request body's Transfer-Encoding is not supported."

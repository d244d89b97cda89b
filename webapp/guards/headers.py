"""The headers every answer carries, and the strict policy of our HTML pages."""

from __future__ import annotations

import gzip
from urllib.parse import urlsplit

from flask import Flask, Response, request

from ..state import AppState, app_state

# A year, this host only: its parent domain's other hosts are not ours to move to https.
HSTS = "max-age=31536000"


def _origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for a CSP source."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def livekit_http_origins(state: AppState) -> str:
    """The plain-http origins of LiveKit servers known before a call (``ws://`` in development).

    The SDK checks a failed connection over HTTP (``/rtc/v1/validate``) and warms it up with
    a fetch; ``https:`` is already allowed, so only a ``ws://`` server needs naming, exactly.
    """
    origins = set()
    for provider in state.providers.values():
        url = provider.livekit_url_before_call()
        if url and url.startswith(("ws://", "http://")):
            origins.add(_origin_of(url.replace("ws://", "http://", 1)))
    return "".join(f" {origin}" for origin in sorted(origins))


def page_headers(
    response: Response,
    *,
    microphone: bool,
    camera: bool = False,
    display_capture: bool = False,
    autoplay: bool | None = None,  # None: where the microphone is allowed
    frame_ancestors: tuple[str, ...] = ("'none'",),
    cacheable: bool = True,
    private: bool = False,
) -> Response:
    """A strict policy for our HTML pages; the microphone (camera, screen capture) only where a
    call runs that uses it.

    ``frame_ancestors`` lists exactly who may frame the page (the iframe embed
    passes the agent's allowed origins, or ``'none'``). Turnstile's script and
    frame are allowed only when a bot check is configured. Our pages run no inline
    script (the page config is a JSON data block), so ``script-src`` needs no nonce and
    a page's bytes are the same each time: browsers revalidate it by ``ETag`` and a
    repeat visit costs a 304. Error pages are never stored. A ``private`` page (a demo link's,
    its token inside) is the visitor's browser's alone to keep: no shared cache stores it, no
    search engine indexes it, and it is not compressed (see :func:`compress`).
    """
    state = app_state()
    settings = state.settings
    turnstile = f" {_origin_of(settings.turnstile_script_url)}" if settings.turnstile_site_key else ""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'{turnstile}; style-src 'self'; "
        f"img-src 'self' data: https:; media-src 'self' blob:; frame-src 'self'{turnstile}; "
        f"connect-src 'self' ws: wss: https:{livekit_http_origins(state)}; worker-src 'self' blob:; "
        f"base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors {' '.join(frame_ancestors)}"
    )
    response.headers["Permissions-Policy"] = permissions_policy(
        microphone=microphone,
        camera=camera,
        display_capture=display_capture,
        autoplay=microphone if autoplay is None else autoplay,
    )
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
        return response
    # Always revalidated: the page names today's bundle.
    response.headers["Cache-Control"] = "private, no-cache" if private else "no-cache"
    response.add_etag()
    if private:
        response.headers["X-Robots-Tag"] = "noindex"
    else:
        compress(response)
    response.make_conditional(request)  # a 304 without the body when the browser's copy is current
    return response


def compress(response: Response) -> None:
    """The body gzipped for a client that takes it (a third of its bytes), with a tag of its own.

    Only answers whose bytes carry no per-visitor secret come here (nothing for a compression
    side channel, BREACH, to guess at): pages, and the widget's panel. Brotli is for the static
    files, made at build time.
    """
    response.vary.add("Accept-Encoding")
    if not request.accept_encodings["gzip"] or response.status_code != 200:
        return
    response.set_data(gzip.compress(response.get_data(), compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    tag, weak = response.get_etag()
    if tag:
        response.set_etag(f"{tag}-gzip", weak=bool(weak))


def permissions_policy(*, microphone: bool, camera: bool, display_capture: bool, autoplay: bool) -> str:
    """Each device feature for this page only, or for nobody; autoplay where a call may play.

    An iframe embed must grant the same features in its ``allow`` attribute as well: a
    feature needs both the frame's own policy and its parent's permission.
    """
    features = {
        "microphone": microphone,
        "autoplay": autoplay,
        "camera": camera,
        "display-capture": display_capture,
    }
    features = {name: allowed for name, allowed in features.items() if allowed or name != "autoplay"}
    return ", ".join(f"{name}=({'self' if allowed else ''})" for name, allowed in features.items())


def init_app(app: Flask) -> None:
    """The always-on headers."""

    @app.after_request
    def always(response: Response) -> Response:
        if request.path.startswith("/static/"):
            # Public, credential-free assets: embed widgets load them from other sites.
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:  # over https (a trusted proxy's X-Forwarded-Proto included): stay there
            response.headers["Strict-Transport-Security"] = HSTS
        return response

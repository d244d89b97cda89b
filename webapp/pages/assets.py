"""What browsers download: hashed, compressed files built into ``static/dist/``, served by WhiteNoise.

``scripts/build-assets.mjs`` names each bundle, chunk and stylesheet by its content hash and
writes ``dist/manifest.json``; templates ask :class:`Assets` for the current names. Hashed
files never change, so they are cached for a year as immutable; WhiteNoise picks the brotli
or gzip copy the build made for each. The embed loader keeps a fixed URL (``/embed.js``, in
customers' pages) and is revalidated after a few minutes instead.

Each build is a folder of its own under ``static/builds/`` and ``static/dist`` a link to the
current one. The link is followed once, at start: a build made meanwhile changes nothing this
process serves (its manifest, files, sizes and ETags stay one build's) until it is reloaded.
The other builds kept there still serve their hashed files, so a page opened before a deploy
can load its lazy chunks after it.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for
from flask.globals import request_ctx
from whitenoise import WhiteNoise

from ..errors import ConfigError

HASHED = re.compile(r"-[A-Z0-9]{8}\.(js|css|map|svg|woff2)$")  # esbuild's [name]-[hash]
LOADER_MAX_AGE_S = 300  # customers' pages always get a recent loader
OTHER_MAX_AGE_S = 60  # any static file not named by its hash
IMMUTABLE = "public, max-age=31536000, immutable"
PREFIX = "static/dist/"


@dataclass(frozen=True)
class Entry:
    """One entry point: its file under dist/ and the chunks it imports at once."""

    file: str
    preload: tuple[str, ...] = ()


class Assets:
    """The build's manifest: entry names (``call.js``, ``widget.js``, ``call.css``) → files."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist.resolve()  # this build, whatever the link names later
        self.kept = kept_builds(dist, self.dist)  # their hashed files are served too
        path = self.dist / "manifest.json"
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                [f"{path} is missing or unreadable: build the browser code with `npm run build` "
                 "(scripts/bootstrap does it)"]
            ) from exc  # fmt: skip
        self.entries = {name: Entry(e["file"], tuple(e.get("preload", ()))) for name, e in raw.items()}

    def url(self, name: str, *, external: bool = False) -> str:
        """The URL of an entry's current file."""
        return static_url(f"dist/{self.entries[name].file}", external=external)

    def preload_urls(self, name: str) -> list[str]:
        """The chunks an entry imports at once: the page preloads them beside it."""
        return [static_url(f"dist/{chunk}") for chunk in self.entries[name].preload]


def kept_builds(dist: Path, current: Path) -> tuple[Path, ...]:
    """The other whole builds (with a manifest) beside the one ``dist`` links to; none for a folder."""
    if not dist.is_symlink():
        return ()
    others = (path for path in current.parent.iterdir() if path != current)
    return tuple(sorted(path for path in others if (path / "manifest.json").is_file()))


def static_url(filename: str, *, external: bool = False) -> str:
    """The URL of a static file; a path of our own when the request's host was refused.

    A ``Host`` Werkzeug refuses (``a..b``) leaves the request without a URL adapter, and
    ``url_for`` then fails inside the 400 page itself, turning it into a bare 500.
    """
    if has_request_context() and request_ctx.url_adapter is None:
        return f"{request.script_root}{current_app.static_url_path}/{filename}"
    return url_for("static", filename=filename, _external=external)


def _is_immutable(path: str, url: str) -> bool:
    """Files named by their content hash never change."""
    return bool(HASHED.search(url))


def _public_headers(headers: Any, path: str, url: str) -> None:
    """Credential-free files that other sites' embeds load."""
    headers["Access-Control-Allow-Origin"] = "*"
    headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    headers["X-Content-Type-Options"] = "nosniff"
    if HASHED.search(url):
        headers["Cache-Control"] = IMMUTABLE


def init_app(app: Flask, assets: Assets) -> None:
    """Serve /static/dist/ and /embed.js with WhiteNoise in front of the app; templates get ``assets``."""
    dist = assets.dist
    static = WhiteNoise(
        app.wsgi_app,
        autorefresh=app.debug,
        max_age=OTHER_MAX_AGE_S,
        immutable_file_test=_is_immutable,
        add_headers_function=_public_headers,
    )
    if not app.debug:  # (autorefresh looks files up per request, in the current build only)
        for build in assets.kept:
            with suppress(FileNotFoundError):  # removed by a build meanwhile (it keeps the last few)
                static.add_files(str(build), prefix=PREFIX)
        # Only their hashed files: any other name (manifest.json, maps) is the current build's.
        static.files = {url: file for url, file in static.files.items() if HASHED.search(url)}
    static.add_files(str(dist), prefix=PREFIX)  # last: its files win
    # The loader alone at the site root; a separate instance for its own short lifetime.
    app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
        static, root=str(dist / "loader"), prefix="/", max_age=LOADER_MAX_AGE_S, autorefresh=app.debug,
        add_headers_function=_public_headers,
    )  # fmt: skip
    app.jinja_env.globals["assets"] = assets

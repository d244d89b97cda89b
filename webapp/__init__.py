"""webcall: talk to a voice AI agent from a web page.

Importing the package loads nothing else: gunicorn's master imports the JSON log format from
``webapp.ops`` before it forks, and the app's modules (with the SSL, HTTP and database
libraries under them) must first be imported in the worker, after gevent has patched the
standard library, and anew on each reload. The demo agent, a program of its own, stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx
    from flask import Flask

    from .settings import Settings


def create_app(settings: Settings | None = None, *, http: httpx.Client | None = None) -> Flask:
    """Build the app (:func:`webapp.app.create_app`): settings, providers, guards, blueprints."""
    from .app import create_app as build

    return build(settings, http=http)

"""A job that runs in a daemon thread of each process, started by the first request it serves.

Never in a CLI command (no request): the periodic history sync and the events' sending belong
to the app's processes. gunicorn forks its workers before any request, so each starts its own.
"""

from __future__ import annotations

import threading

from flask import Flask


class Background:
    """A daemon thread running :meth:`_loop` once started, until :meth:`stop` is asked."""

    thread_name = "webcall-background"

    def __init__(self) -> None:
        self.started = False
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the thread, once."""
        with self.lock:
            if self.started:
                return
            self.started = True
        threading.Thread(target=self._loop, name=self.thread_name, daemon=True).start()

    def stop(self) -> None:
        """Ask the thread to end once what it is doing is done."""
        self.stopping.set()

    def _loop(self) -> None:
        raise NotImplementedError


def start_with_first_request(app: Flask, name: str, job: Background | None) -> None:
    """Keep ``job`` as ``app.extensions[name]`` and start it with the first request."""
    if job is None:
        return
    app.extensions[name] = job

    @app.before_request
    def start_job() -> None:
        if not job.started:
            job.start()

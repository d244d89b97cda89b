"""Page weight and first paint: what the call page downloads, gzipped, and when it paints.

Loads ``/talk/demo`` from gunicorn in headless Chromium with an empty cache, records every
HTTP response before the click (HTML, JS, CSS, anything else) and after it while a real
call runs (LiveKit server and demo agent), and gzips each body (level 6, as a proxy or CDN
would; the app itself serves them uncompressed). First contentful paint and the moment
the Talk button is enabled (the page script has run) are medians of fresh page loads.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.support.processes import ROOT

from .results import Result, kb, median_ms
from .services import call_stack, launch_chromium

NAME = "page_weight"
SLUG = "demo"
PAINT_LOADS = 7
PAGE_TARGET_BYTES = 170_000
EMBED_TARGET_BYTES = 5_000
EMBED = ROOT / "static" / "dist" / "embed.js"
# Set before any page script: when #talk stops being disabled (the page script has run).
WATCH_TALK = """
new MutationObserver(() => {
  const talk = document.getElementById("talk");
  if (talk && !talk.disabled && window.__talkReady === undefined) window.__talkReady = performance.now();
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["disabled"] });
"""
PAINT = """() => ({
  fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime,
  talk: window.__talkReady,
  dcl: performance.getEntriesByType("navigation")[0]?.domContentLoadedEventEnd,
})"""


@dataclass
class Download:
    """One response the page received."""

    url: str
    kind: str  # Playwright's resource type: document, script, stylesheet, fetch, ...
    raw_bytes: int
    gzip_bytes: int
    encoding: str  # the Content-Encoding it was served with, or ""


def _downloads(requests: list[Any]) -> list[Download]:
    """Sizes of every finished request's response body (WebSocket and media are not HTTP bodies)."""
    found = []
    for request in requests:
        response = request.response()
        if response is None:
            continue
        try:
            body = response.body()
        except Exception:  # redirects and aborted requests have no body
            body = b""
        found.append(
            Download(
                url=request.url,
                kind=request.resource_type,
                raw_bytes=len(body),
                gzip_bytes=len(gzip.compress(body, compresslevel=6)) if body else 0,
                encoding=response.headers.get("content-encoding", ""),
            )
        )
    return found


def _weigh(browser: Any, url: str) -> tuple[list[Download], list[Download]]:
    """Downloads before the click (page ready) and after it (the call running, then hung up)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        finished: list[Any] = []
        page.on("requestfinished", lambda request: finished.append(request))
        page.add_init_script(WATCH_TALK)
        page.goto(url, wait_until="networkidle")
        page.wait_for_function("() => window.__talkReady !== undefined", timeout=15_000)
        before = _downloads(finished)
        finished.clear()
        page.click("#talk")
        page.wait_for_selector('#call[data-state="in-call"]', timeout=25_000)
        page.wait_for_timeout(3_000)  # the agent greets: anything fetched lazily shows up now
        page.click("#hangup")
        page.wait_for_selector('#call[data-state="ended"]', timeout=10_000)
        after = _downloads(finished)
        return before, after
    finally:
        context.close()


def _paint_times(browser: Any, url: str) -> tuple[list[float], list[float]]:
    """First contentful paint and Talk-enabled times (ms from navigation) of fresh page loads."""
    fcps, talks = [], []
    for _ in range(PAINT_LOADS):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.add_init_script(WATCH_TALK)
            page.goto(url, wait_until="load")
            page.wait_for_function(
                "() => window.__talkReady !== undefined && performance.getEntriesByType('paint').length > 1",
                timeout=15_000,
            )
            marks = page.evaluate(PAINT)
            fcps.append(float(marks["fcp"]))
            talks.append(float(marks["talk"]))
        finally:
            context.close()
    return fcps, talks


def _breakdown(downloads: list[Download]) -> str:
    """Gzipped bytes per resource type, e.g. "script 156.3 kB, document 1.6 kB"."""
    by_kind: dict[str, int] = defaultdict(int)
    for download in downloads:
        by_kind[download.kind] += download.gzip_bytes
    parts = sorted(by_kind.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{kind} {kb(size)}" for kind, size in parts) or "nothing"


def run(log_dir: Path) -> list[Result]:
    """Weigh the page before and after the click, time its first paint, weigh the embed loader."""
    with call_stack(log_dir) as stack, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            url = f"{stack.app.url}/talk/{SLUG}"
            before, after = _weigh(browser, url)
            fcps, talks = _paint_times(browser, url)
        finally:
            browser.close()
    total_gz = sum(d.gzip_bytes for d in before)
    total_raw = sum(d.raw_bytes for d in before)
    encodings = sorted({d.encoding or "identity" for d in before})
    rows = [
        Result(NAME, f"before click: all responses ({len(before)}), gzipped", kb(total_gz),
               f"< {kb(PAGE_TARGET_BYTES)}", total_gz < PAGE_TARGET_BYTES),
        Result(NAME, "before click: gzipped by type", _breakdown(before)),
        Result(NAME, "before click: as served (Content-Encoding " + "/".join(encodings) + ")", kb(total_raw)),
    ]  # fmt: skip
    for download in sorted(before, key=lambda d: -d.gzip_bytes):
        path = download.url.split("//", 1)[-1].split("/", 1)[-1]
        rows.append(
            Result(NAME, f"  /{path}", f"{kb(download.gzip_bytes)} gz ({kb(download.raw_bytes)} raw)")
        )
    rows.append(
        Result(NAME, f"after click, call running: HTTP responses ({len(after)}), gzipped",
               f"{kb(sum(d.gzip_bytes for d in after))} ({_breakdown(after)})")
    )  # fmt: skip
    if EMBED.is_file():
        embed_gz = len(gzip.compress(EMBED.read_bytes(), compresslevel=6))
        rows.append(Result(NAME, "embed loader static/dist/embed.js, gzipped", kb(embed_gz),
                           f"< {kb(EMBED_TARGET_BYTES)}", embed_gz < EMBED_TARGET_BYTES))  # fmt: skip
    else:
        rows.append(Result(NAME, "embed loader static/dist/embed.js, gzipped", "n/a (not built)",
                           f"< {kb(EMBED_TARGET_BYTES)}"))  # fmt: skip
    rows += [
        Result(
            NAME, f"first contentful paint, median of {len(fcps)} cold loads", f"{median_ms(fcps):.0f} ms"
        ),
        Result(NAME, f"Talk enabled (page script ran), median of {len(talks)}", f"{median_ms(talks):.0f} ms"),
    ]
    return rows

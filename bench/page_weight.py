"""Page weight and first paint: what the call page costs on the wire, first and repeat visit.

Loads ``/talk/demo`` from gunicorn (the app alone, no proxy or CDN) in headless Chromium
with an empty cache and reads every resource's ``transferSize`` (bytes as they travelled:
compressed body plus headers) from the page's own Resource Timing, before the click and
while a real call runs (LiveKit server and demo agent). Then it loads the page again in the
same browser context: hashed files come from the cache, and only the HTML is revalidated.
First contentful paint and the moment the Talk button is enabled (the page script has run)
are medians of fresh page loads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from .results import Result, kb, median_ms
from .services import call_stack, launch_chromium

NAME = "page_weight"
SLUG = "demo"
PAINT_LOADS = 7
PAGE_TARGET_BYTES = 170_000
EMBED_TARGET_BYTES = 5_000
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
# Every HTTP fetch of the document so far, as Resource Timing saw it (same origin: sizes are real).
TRANSFERS = """() => [...performance.getEntriesByType("navigation"),
                      ...performance.getEntriesByType("resource")]
  .map((e) => ({ url: e.name, kind: e.initiatorType, wire: e.transferSize, body: e.decodedBodySize }))"""


@dataclass
class Download:
    """One fetch the page made."""

    url: str
    kind: str  # Resource Timing's initiatorType: navigation, script, link, fetch, ...
    wire_bytes: int  # headers and (compressed) body as they travelled; 0 when served from the cache
    body_bytes: int  # the body once decoded


def _transfers(page: Any, skip: int = 0) -> list[Download]:
    """The page's fetches from the ``skip``-th on."""
    entries = page.evaluate(TRANSFERS)[skip:]
    return [Download(e["url"], e["kind"], int(e["wire"]), int(e["body"])) for e in entries]


def _weigh(browser: Any, url: str) -> tuple[list[Download], list[Download], list[Download]]:
    """First visit before the click, the call running, then a repeat visit in the same context."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(WATCH_TALK)
        page.goto(url, wait_until="networkidle")
        page.wait_for_function("() => window.__talkReady !== undefined", timeout=15_000)
        before = _transfers(page)
        page.click("#talk")
        page.wait_for_selector('#call[data-state="in-call"]', timeout=25_000)
        page.wait_for_timeout(3_000)  # the agent greets: anything fetched lazily shows up now
        page.click("#hangup")
        page.wait_for_selector('#call[data-state="ended"]', timeout=10_000)
        during = _transfers(page, skip=len(before))
        again = context.new_page()
        again.add_init_script(WATCH_TALK)
        again.goto(url, wait_until="networkidle")
        again.wait_for_function("() => window.__talkReady !== undefined", timeout=15_000)
        repeat = _transfers(again)
        return before, during, repeat
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
    """Wire bytes per resource type, e.g. "script 133.5 kB, navigation 1.9 kB"."""
    by_kind: dict[str, int] = defaultdict(int)
    for download in downloads:
        by_kind[download.kind] += download.wire_bytes
    parts = sorted(by_kind.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{kind} {kb(size)}" for kind, size in parts) or "nothing"


def _loader_wire_bytes(app_url: str) -> tuple[int, str]:
    """``/embed.js`` as a browser gets it: bytes on the wire and the encoding it came in."""
    response = httpx.get(f"{app_url}/embed.js", headers={"Accept-Encoding": "br, gzip"})
    return response.num_bytes_downloaded, response.headers.get("content-encoding", "identity")


def _gzip_bytes(downloads: list[Download]) -> tuple[int, int]:
    """The same fetches as a client without brotli gets them (``Accept-Encoding: gzip``):
    compressed bodies of the scripts and stylesheets, and of the HTML."""
    assets = html = 0
    with httpx.Client() as client:
        for download in downloads:
            response = client.get(download.url, headers={"Accept-Encoding": "gzip"})
            response.raise_for_status()
            if download.kind == "navigation":
                html += response.num_bytes_downloaded
            else:
                assets += response.num_bytes_downloaded
    return assets, html


def run(log_dir: Path) -> list[Result]:
    """Weigh the page (first visit, call, repeat visit), time its first paint, weigh the loader."""
    with call_stack(log_dir) as stack, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            url = f"{stack.app.url}/talk/{SLUG}"
            before, during, repeat = _weigh(browser, url)
            fcps, talks = _paint_times(browser, url)
            loader_bytes, loader_encoding = _loader_wire_bytes(stack.app.url)
            gzip_assets, gzip_html = _gzip_bytes(before)
        finally:
            browser.close()
    wire = sum(d.wire_bytes for d in before)
    body = sum(d.body_bytes for d in before)
    fetched_again = [d for d in repeat if d.wire_bytes > 0]
    again_bytes = sum(d.wire_bytes for d in fetched_again)
    only_html = all(d.kind == "navigation" for d in fetched_again)
    rows = [
        Result(NAME, f"first visit before click: {len(before)} fetches on the wire", kb(wire),
               f"<= {kb(PAGE_TARGET_BYTES)}", wire <= PAGE_TARGET_BYTES),
        Result(NAME, "first visit: on the wire by type", _breakdown(before)),
        Result(NAME, "first visit: decoded bodies (wire/decoded ratio)", f"{kb(body)} ({wire / body:.2f})"),
        Result(NAME, "first visit, gzip only: our JS and CSS with livekit-client (+ the HTML)",
               f"{kb(gzip_assets)} (+ {kb(gzip_html)})", f"<= {kb(PAGE_TARGET_BYTES)}",
               gzip_assets <= PAGE_TARGET_BYTES),
    ]  # fmt: skip
    for download in sorted(before, key=lambda d: -d.wire_bytes):
        path = download.url.split("//", 1)[-1].split("/", 1)[-1]
        sizes = f"{kb(download.wire_bytes)} wire ({kb(download.body_bytes)} decoded)"
        rows.append(Result(NAME, f"  /{path}", sizes))
    rows += [
        Result(NAME, f"call running: HTTP fetches ({len(during)}) on the wire",
               f"{kb(sum(d.wire_bytes for d in during))} ({_breakdown(during)})"),
        Result(NAME, f"repeat visit: fetched from the network {len(fetched_again)} of {len(repeat)}",
               f"{kb(again_bytes)} ({_breakdown(fetched_again)})", "the HTML only", only_html),
        Result(NAME, f"embed loader /embed.js on the wire ({loader_encoding})", kb(loader_bytes),
               f"<= {kb(EMBED_TARGET_BYTES)}", loader_bytes <= EMBED_TARGET_BYTES),
        Result(NAME, f"first contentful paint, median of {len(fcps)} cold loads",
               f"{median_ms(fcps):.0f} ms"),
        Result(NAME, f"Talk enabled (page script ran), median of {len(talks)}",
               f"{median_ms(talks):.0f} ms"),
    ]  # fmt: skip
    return rows

"""Page weight and first paint: what the call page costs on the wire, first and repeat visit.

Loads ``/talk/demo`` from gunicorn (the app alone, no proxy or CDN) in headless Chromium
with an empty cache and reads every resource's ``transferSize`` (bytes as they travelled:
compressed body plus headers) from the page's own Resource Timing, before the click and
while a real call runs (LiveKit server and demo agent). Then it loads the page again in the
same browser context: hashed files come from the cache, and only the HTML is revalidated.
First contentful paint and the moment the Talk button is enabled (the page script has run)
are medians of fresh page loads. The script embed is weighed the same way on a landing page of
the app's origin that carries only its tag: what the page fetches before the visitor opens the
widget (the loader) and what opening it adds (the panel, the call code and its styles), each
also as a client without brotli gets it (gzip, issue 6's measure).
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
  fp: performance.getEntriesByName("first-paint")[0]?.startTime,
  fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime,
  talk: window.__talkReady,
  dcl: performance.getEntriesByType("navigation")[0]?.domContentLoadedEventEnd,
})"""
# A landing page with nothing but the script embed (served by the browser itself, on the app's origin).
LANDING_PATH = "/bench-landing-page"
LANDING_PAGE = """<!doctype html><html lang="en"><title>Acme</title><h1>Acme</h1>
<script src="{app}/embed.js" data-agent="{slug}" async></script></html>"""
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


def _weigh_widget(browser: Any, app_url: str) -> tuple[list[Download], list[Download]]:
    """The landing page's fetches before the widget is opened, and those opening it adds."""
    context = browser.new_context()
    try:
        page = context.new_page()
        url, body = f"{app_url}{LANDING_PATH}", LANDING_PAGE.format(app=app_url, slug=SLUG)
        page.route(url, lambda route: route.fulfill(body=body, content_type="text/html"))
        page.goto(url, wait_until="networkidle")
        widget = page.locator("webcall-widget")
        widget.locator(".launcher").wait_for(timeout=15_000)
        before = _transfers(page)
        widget.locator(".launcher").click()
        widget.locator("#talk:enabled").wait_for(timeout=15_000)
        page.wait_for_load_state("networkidle")
        opened = _transfers(page, skip=len(before))
        # (not the landing page itself, nor the favicon a browser asks any page's site for)
        landing = [d for d in before if d.kind != "navigation" and not d.url.endswith("/favicon.ico")]
        return landing, opened
    finally:
        context.close()


def _paint_times(browser: Any, url: str) -> tuple[list[float], list[float], list[float]]:
    """First paint, first contentful paint and Talk-enabled times (ms from navigation) of fresh
    page loads."""
    fps, fcps, talks = [], [], []
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
            fps.append(float(marks["fp"]))
            fcps.append(float(marks["fcp"]))
            talks.append(float(marks["talk"]))
        finally:
            context.close()
    return fps, fcps, talks


def _breakdown(downloads: list[Download]) -> str:
    """Wire bytes per resource type, e.g. "script 133.5 kB, navigation 1.9 kB"."""
    by_kind: dict[str, int] = defaultdict(int)
    for download in downloads:
        by_kind[download.kind] += download.wire_bytes
    parts = sorted(by_kind.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{kind} {kb(size)}" for kind, size in parts) or "nothing"


def _loader_wire_bytes(app_url: str, accept: str = "br, gzip") -> tuple[int, str]:
    """``/embed.js`` as a client that takes ``accept`` gets it: bytes on the wire and the encoding
    it came in."""
    response = httpx.get(f"{app_url}/embed.js", headers={"Accept-Encoding": accept})
    return response.num_bytes_downloaded, response.headers.get("content-encoding", "identity")


def _gzip_bytes(downloads: list[Download], origin: str | None = None) -> tuple[int, int]:
    """The same fetches as a client without brotli gets them (``Accept-Encoding: gzip``, from a
    page of ``origin``): compressed bodies of the scripts, stylesheets and JSON, and of the HTML."""
    assets = html = 0
    headers = {"Accept-Encoding": "gzip", **({"Origin": origin} if origin else {})}
    with httpx.Client() as client:
        for download in downloads:
            response = client.get(download.url, headers=headers)
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
            fps, fcps, talks = _paint_times(browser, url)
            landing, opened = _weigh_widget(browser, stack.app.url)
            loader_bytes, loader_encoding = _loader_wire_bytes(stack.app.url)
            loader_gzip, _ = _loader_wire_bytes(stack.app.url, "gzip")
            gzip_assets, gzip_html = _gzip_bytes(before)
            opened_gzip, _ = _gzip_bytes(opened, origin=stack.app.url)
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
        Result(NAME, f"embed loader /embed.js on the wire ({loader_encoding})", kb(loader_bytes)),
        Result(NAME, "embed loader /embed.js, gzip only", kb(loader_gzip),
               f"< {kb(EMBED_TARGET_BYTES)}", loader_gzip < EMBED_TARGET_BYTES),
        Result(NAME, f"script embed before it is opened: fetches on the wire ({len(landing)})",
               f"{kb(sum(d.wire_bytes for d in landing))} ({_breakdown(landing)})"),
        Result(NAME, f"script embed opened: more fetches on the wire ({len(opened)}), and gzip only",
               f"{kb(sum(d.wire_bytes for d in opened))} ({kb(opened_gzip)}; {_breakdown(opened)})"),
        Result(NAME, f"first paint, median of {len(fps)} cold loads", f"{median_ms(fps):.0f} ms"),
        Result(NAME, f"first contentful paint, median of {len(fcps)} cold loads",
               f"{median_ms(fcps):.0f} ms"),
        Result(NAME, f"Talk enabled (page script ran), median of {len(talks)}",
               f"{median_ms(talks):.0f} ms"),
    ]  # fmt: skip
    return rows

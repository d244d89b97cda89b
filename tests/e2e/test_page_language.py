"""The call page in the caller's language, in headless Chromium through real parts (livekit-server,
the demo agent, gunicorn, the provider fakes): the words the server renders, the ones the script
writes as the call goes (its states, an announcement, the end), an API refusal with its wait in
the browser's own words for time, and the phone form. The catalogues' completeness is
tests/pages/test_words.py's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_call_page import open_page
from tests.e2e.test_embed import host_url
from tests.fakes import Fault
from tests.support.browser import assert_accessible, events, screenshots, serve_axe, wait_for_state
from webapp.errors import ProviderBusy
from webapp.pages.words import fill, words_for

pytestmark = pytest.mark.e2e


def said(language: str, text: str, **values: Any) -> str:
    """What the script shows for ``text`` in ``language`` (its words, as the page's config has them)."""
    return fill(words_for(language).script.get(text, text), values)


def test_a_call_in_spanish(page: Page, stack: dict[str, Any], artifacts: Path) -> None:
    app = stack["app"]
    spanish = words_for("es")
    open_page(page, f"{app.url}/talk/demo?lang=es", app.url)
    assert page.evaluate("document.documentElement.lang") == "es"
    expect(page.locator("#talk")).to_have_text(
        re.compile(re.escape(spanish("Talk to {title}", title="Demo agent")))
    )
    expect(page.locator("#status")).to_have_text(spanish("Ready when you are"))
    expect(page.locator("#hangup")).to_have_text(spanish("Hang up"))
    assert page.title() == spanish("Talk to {title}", title="Demo agent")
    assert_accessible(page, app.url, "ready, in Spanish")

    page.click("#talk")
    wait_for_state(page, "in-call")
    states = "|".join(re.escape(said("es", f"Agent is {s}")) for s in ("speaking", "listening", "thinking…"))
    expect(page.locator("#status")).to_have_text(re.compile(f"^({states})$"))
    # Who speaks, named where the turn changes (generated content, from the line's data-who).
    agent_line = page.locator('#transcript [data-speaker="agent"]').first
    expect(agent_line).to_have_attribute("data-who", said("es", "Agent"), timeout=15_000)
    named = agent_line.evaluate("(line) => getComputedStyle(line, '::before').content")
    assert named == f'"{said("es", "Agent")}"', named
    page.locator("#transcript").press("m")  # the shortcut: its effect is read out
    expect(page.locator("#announce")).to_have_text(said("es", "Microphone muted"))
    muted = said("es", "{state} · you are muted", state="")
    expect(page.locator("#status")).to_contain_text(muted.strip(" ·"))
    assert_accessible(page, app.url, "in call, in Spanish")
    screenshots(page, artifacts / "screenshots", "in-call-es", themes=("light",))
    page.click("#hangup")
    wait_for_state(page, "ended")
    expect(page.locator("#status")).to_have_text(
        re.compile(f"^{re.escape(said('es', 'Call ended'))} · \\d:\\d\\d$")
    )
    expect(page.locator("#talk")).to_have_text(re.compile(re.escape(said("es", "Start over"))))
    # The events keep their stable codes for the host page's analytics, whatever the language.
    assert events(page, "end")[-1]["detail"]["reason"] == "hangup"


# A sentence ends as the page's firstSentence says (messages.js): Japanese needs no space after it.
SENTENCE_END = r"(?<=[.!?।؟۔])\s+|(?<=[。！？])"


# Bengali: Latin digits, as the page's timer writes them (not ৭).
@pytest.mark.parametrize(
    ("language", "in_7_s"), [("de", "in 7 Sekunden"), ("ja", "7 秒後"), ("bn", "7 সেকেন্ডে")]
)
def test_a_refusal_and_its_wait_in_the_pages_language(
    page: Page, stack: dict[str, Any], language: str, in_7_s: str
) -> None:
    """The API speaks English: the page shows its message in the page's language (what went
    wrong, its first sentence, in bold), and the wait from Retry-After in the browser's words for
    time in that language (``in_7_s``: Intl.RelativeTimeFormat's)."""
    app = stack["app"]
    ravan = stack["fakes"]["ravan"][1]
    open_page(page, f"{app.url}/talk/ravan-demo?lang={language}", app.url)
    ravan.faults.append(Fault("status", status=429, body={}, headers={"Retry-After": "7"}))
    page.click("#talk")
    wait_for_state(page, "failed")
    expect(page.locator("#error")).to_have_attribute("data-code", "provider_busy")
    first = re.split(SENTENCE_END, said(language, ProviderBusy.message))[0]
    wait = said(language, "You can try again {when}.", when=in_7_s)
    expect(page.locator("#error strong")).to_have_text(first)
    gap = "" if language == "ja" else " "  # no space after a Japanese full stop
    expect(page.locator("#error")).to_have_text(f"{first}{gap}{wait}")
    expect(page.locator("#status")).to_have_text(said(language, "Call failed"))
    expect(page.locator("#error-ref")).to_have_text(
        re.compile(f"^{re.escape(said(language, 'Reference: {id}', id=''))}")
    )
    assert_accessible(page, app.url, f"failed, in {language}")


def test_the_phone_form_in_portuguese(page: Page, stack: dict[str, Any]) -> None:
    """The form's labels from the server, its checks from the script, and the countries named by
    the browser in the page's language (not the browser's: this one is in English)."""
    app = stack["app"]
    portuguese = words_for("pt")
    open_page(page, f"{app.url}/talk/phone-only?lang=pt", app.url)
    assert page.evaluate("navigator.language").startswith("en")
    expect(page.locator("#phone-title")).to_have_text(portuguese("Get a call on your phone"))
    expect(page.locator("#phone-country option").first).to_have_text("Estados Unidos (\u2066+1\u2069)")
    page.click("#phone-submit")
    expect(page.locator("#phone-problem")).to_have_text(said("pt", "Please enter your phone number."))
    page.fill("#phone-number", "4155550123")
    page.click("#phone-submit")
    expect(page.locator("#phone-problem")).to_have_text(
        said("pt", "Please confirm that we may call this number.")
    )
    assert_accessible(page, app.url, "phone form, in Portuguese")


def test_the_script_embed_in_french_on_an_english_page(page: Page, stack: dict[str, Any]) -> None:
    """``data-lang`` asks for the panel in French; the host page around it keeps its own."""
    app = stack["app"]
    french = words_for("fr")
    serve_axe(page, app.url)
    page.goto(host_url(stack, "allowed", "french.html"))
    widget = page.locator("#call-slot > webcall-widget")
    expect(widget.locator("#talk")).to_be_enabled(timeout=15_000)
    expect(widget.locator("#call")).to_have_attribute("lang", "fr")
    assert page.evaluate("document.documentElement.lang") == "en"
    talk = french("Talk to {title}", title="Widget agent")
    expect(widget.locator("#talk")).to_have_text(re.compile(re.escape(talk)))
    expect(widget.locator("#status")).to_have_text(said("fr", "Ready when you are"))
    expect(widget.locator("#transcript-title")).to_have_text(french("Transcript"))
    assert_accessible(page, app.url, "script embed, in French")


# Each visible control of the call: any whose words spill out of it, or out of the panel.
SPILLING = """() => {
  const panel = document.querySelector('.call__panel').getBoundingClientRect();
  return [...document.querySelectorAll('.controls button')].filter((b) => b.offsetParent)
    .filter((b) => {
      const r = b.getBoundingClientRect();
      return b.scrollWidth > b.clientWidth + 1 || r.left < panel.left || r.right > panel.right;
    })
    .map((b) => `${b.id}: ${b.textContent.trim()}`);
}"""


@pytest.mark.parametrize("language", ["ta", "de", "en", "ur"])
def test_a_calls_controls_keep_their_words_on_a_small_phone(
    page: Page, stack: dict[str, Any], language: str
) -> None:
    """Tamil's and German's labels are the longest (Urdu's run right to left): on a 320 px phone
    in a call with the camera and the screen offered, each control shows all its words inside it
    and the page does not scroll sideways (the controls take a line each where two don't fit)."""
    app = stack["app"]
    page.set_viewport_size({"width": 320, "height": 640})
    open_page(page, f"{app.url}/talk/vision?lang={language}", app.url)
    page.click("#talk")
    wait_for_state(page, "in-call")
    expect(page.locator("#screen-share")).to_be_visible()
    assert page.evaluate(SPILLING) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.click("#hangup")
    wait_for_state(page, "ended")


# Where each part of the page is, left to right: the header's logo and title, the call panel and
# the transcript beside it, the agent's lines, Hang up's icon and its word.
PLACES = """() => {
  const box = (el) => el.getBoundingClientRect();
  const one = (selector) => box(document.querySelector(selector));
  return {
    logo: one('.agent__logo'), title: one('#agent-title'),
    panel: one('.call__panel'), transcript: one('.transcript'),
    agent: [...document.querySelectorAll('#transcript [data-speaker="agent"]')].map(box),
    icon: one('#hangup .icon'), label: one('#hangup span'),
    scroll: document.documentElement.scrollWidth,
  };
}"""


@pytest.mark.parametrize("language", ["ar", "ur"])
def test_arabic_and_urdu_pages_run_right_to_left(
    page: Page, stack: dict[str, Any], artifacts: Path, language: str
) -> None:
    """``dir="rtl"``: the layout mirrors (the logo right of the title, the transcript left of the
    call, the agent's lines from the right, a button's icon right of its word), while the timer's digits
    still read left to right."""
    app = stack["app"]
    open_page(page, f"{app.url}/talk/demo?lang={language}", app.url)
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [language, "rtl"]
    expect(page.locator("#status")).to_have_text(words_for(language)("Ready when you are"))
    assert_accessible(page, app.url, f"ready, in {language}")
    page.click("#talk")
    wait_for_state(page, "in-call")
    agent_line = page.locator('#transcript [data-speaker="agent"]').first
    expect(agent_line).to_be_visible(timeout=15_000)
    # The demo agent speaks English: its line reads left to right inside the mirrored page.
    assert agent_line.evaluate("(li) => getComputedStyle(li).direction") == "ltr"
    places = page.evaluate(PLACES)
    assert places["logo"]["left"] >= places["title"]["right"], places
    assert places["transcript"]["right"] <= places["panel"]["left"], places  # side by side at 1280 px
    transcript = places["transcript"]
    for line in places["agent"]:  # from the right edge (the text's start)
        assert transcript["right"] - line["right"] < line["left"] - transcript["left"], places
    assert places["icon"]["left"] >= places["label"]["right"], places  # a button's icon comes first
    assert places["scroll"] <= page.viewport_size["width"]  # type: ignore[index]
    expect(page.locator("#timer")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    # The script isolates what it fills in too: "{state} · you are muted", the state isolated.
    page.locator("#transcript").press("m")
    expect(page.locator("#status")).to_contain_text("\u2069 · ")
    assert_accessible(page, app.url, f"in call, in {language}")
    screenshots(page, artifacts / "screenshots", f"in-call-{language}", themes=("light",))
    page.click("#hangup")
    wait_for_state(page, "ended")


def test_a_phone_number_reads_left_to_right_on_an_arabic_page(page: Page, stack: dict[str, Any]) -> None:
    app = stack["app"]
    open_page(page, f"{app.url}/talk/phone-only?lang=ar", app.url)
    number = page.locator("#phone-number")
    assert number.evaluate("(el) => [getComputedStyle(el).direction, getComputedStyle(el).textAlign]") == [
        "ltr", "right",
    ]  # fmt: skip
    assert page.locator(".phone").evaluate("(el) => getComputedStyle(el).direction") == "rtl"
    assert_accessible(page, app.url, "phone form, in Arabic")

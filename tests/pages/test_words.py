"""The call page in the caller's language: every catalogue complete, the language chosen as
documented (``?lang=``, the agent's ``page_language``, the browser's for ``auto``), the
templates' words translated and the script's words in the page's config."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.apps import FAKE_KEYS, build_app
from tests.support.apps import page_config as config
from tests.support.node import module_uri, run_module_script
from webapp.errors import ConfigError, ExpiredDemoLink, InvalidDemoLink, RevokedDemoLink, UsedUpDemoLink
from webapp.pages.render import ERROR_TEXT
from webapp.pages.views import LINK_REFUSED
from webapp.pages.words import CALLER_ERRORS, LANGUAGES, LOCALES, choose_language, fill, joined, words_for

ROOT = Path(__file__).resolve().parents[2]
# The call UI's templates (the admin view is for the operator, in English).
PAGES = ("call.html", "_call_panel.html", "_phone_form.html", "error.html", "index.html")
TEMPLATES = [ROOT / "templates" / name for name in PAGES]
TEMPLATE_TEXT = re.compile(r'\b_\(\s*"((?:[^"\\]|\\.)*)"')
PYTHON_TEXT = re.compile(r'\bwords\(\s*"((?:[^"\\]|\\.)*)"')
SCRIPT_TEXT = re.compile(r"""\bt\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
OTHERS = [language for language in LANGUAGES if language != "en"]


def page_texts() -> set[str]:
    """Every English text the templates (and the page's Python) give ``_`` or ``words``."""
    found = {m for path in TEMPLATES for m in TEMPLATE_TEXT.findall(path.read_text())}
    for path in (ROOT / "webapp" / "pages").glob("*.py"):
        found.update(PYTHON_TEXT.findall(path.read_text()))
    # A refused demo link's page says why in the demo's language (webapp/pages/views.py), and a
    # page for an agent that isn't there in the visitor's (webapp/pages/render.py).
    ended = (ExpiredDemoLink.message, UsedUpDemoLink.message, RevokedDemoLink.message)
    return found | {LINK_REFUSED, InvalidDemoLink.message, *ended, *ERROR_TEXT[404]}


def script_texts() -> set[str]:
    """Every English text the page's script gives ``t``, and the API's messages to callers."""
    found = set()
    for path in (ROOT / "static" / "src").rglob("*.js"):
        for single, double in SCRIPT_TEXT.findall(path.read_text()):
            found.add((single or double).replace("\\'", "'"))
    return found | {error.message for error in CALLER_ERRORS}


def test_the_texts_are_found() -> None:
    """The extraction itself: a sample of each kind, and nothing half-read."""
    page, script = page_texts(), script_texts()
    assert {"Hang up", "Talk to {title}", "I agree that {title} may call this number now."} <= page
    assert {"Agent is speaking", "Talk to {title}", "You can try again {when}.", "Your camera"} <= script
    assert "Too many calls right now. Please wait a moment and try again." in script
    assert len(page) > 35 and len(script) > 120
    assert not [text for text in page | script if not text.strip() or "\\" in text]


@pytest.mark.parametrize("language", OTHERS)
def test_every_catalogue_translates_every_text_and_nothing_else(language: str) -> None:
    raw = (LOCALES / f"{language}.json").read_text(encoding="utf-8")
    catalogue = json.loads(raw)
    assert set(catalogue) == {"page", "script"}
    # One layout for every file (keys sorted, written as UTF-8), so a change reads as its lines.
    assert all(list(part) == sorted(part) for part in catalogue.values())
    assert raw == json.dumps(catalogue, ensure_ascii=False, indent=2) + "\n"
    for part, texts in (("page", page_texts()), ("script", script_texts())):
        words = catalogue[part]
        assert sorted(texts - set(words)) == [], f"{language}.json {part}: not translated"
        assert sorted(set(words) - texts) == [], f"{language}.json {part}: no longer used"
        for english, said in words.items():
            assert said.strip(), (language, english)
            # The same blanks to fill: a translation that dropped or renamed one would show "{title}".
            blanks = sorted(PLACEHOLDER.findall(english))
            assert sorted(PLACEHOLDER.findall(said)) == blanks, (language, english)
        # A word may be the same in both languages ("Agent" in German), a sentence is not.
        same = [english for english, said in words.items() if said == english]
        sentences = [english for english in same if " " in PLACEHOLDER.sub("", english).strip()]
        assert not sentences, f"{language}.json {part}: left in English"


def test_english_is_the_texts_themselves() -> None:
    english = words_for("en")
    assert english("Talk to {title}", title="Ava") == "Talk to Ava"
    assert english.script == {} and english.page == {}
    assert not (LOCALES / "en.json").exists()


def test_two_sentences_join_as_the_script_joins_them() -> None:
    assert joined("Pick one.", "Then talk.") == "Pick one. Then talk."
    assert joined("選んでください。", "話してください。") == "選んでください。話してください。"


def test_fill_leaves_unknown_blanks_and_takes_any_value() -> None:
    assert fill("{a} and {b}", {"a": 1}) == "1 and {b}"
    assert fill("{a}", {}) == "{a}"


@pytest.mark.parametrize(
    ("setting", "asked", "accepted", "chosen"),
    [
        ("en", None, [("es", 1.0)], "en"),  # a set language is the page's, whatever the browser
        ("de", None, [], "de"),
        ("en", "fr", [], "fr"),  # ?lang= wins
        ("en", " FR ", [], "fr"),
        ("de", "xx", [("es", 1.0)], "de"),  # one the page doesn't have counts for nothing
        ("en", "pt-BR", [], "pt"),  # a region's tag, as Accept-Language's already counted
        ("en", "es_MX", [], "es"),
        ("auto", None, [("pt_BR", 1.0), ("en", 0.8)], "pt"),  # written with "_" as some do
        ("auto", None, [("es-MX", 1.0), ("en", 0.8)], "es"),
        ("auto", None, [("ko", 1.0), ("pt-BR", 0.9), ("en", 0.8)], "pt"),
        ("auto", None, [("en", 0.5), ("hi-IN", 0.9)], "hi"),  # by weight, not by order
        ("auto", None, [("de", 0.0), ("fr", 0.2)], "fr"),  # q=0: not acceptable
        ("auto", None, [("ko", 1.0)], "en"),
        ("auto", None, [], "en"),
    ],
)
def test_the_language_is_chosen(
    setting: str, asked: str | None, accepted: list[tuple[str, float]], chosen: str
) -> None:
    assert choose_language(setting, asked, accepted) == chosen


CATALOGUE = """
[agents.ava]
provider = "livekit"
agent_id = "webcall-demo"
title = "Ava"
page_language = "es"
allowed_origins = ["https://shop.example.com"]

[agents.auto]
provider = "livekit"
agent_id = "webcall-demo"
title = "Auto"
page_language = "auto"

[agents.plain]
provider = "livekit"
agent_id = "webcall-demo"
title = "Plain"

[agents.callback]
provider = "convoi"
agent_id = "agt_b88d642dd68747f28305c428b209abcd"
title = "Callback"
web = false
page_language = "pt"
[agents.callback.phone]
enabled = true
allowed_countries = ["US", "BR"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
"""
ENV = {"CONVOI_API_KEY": FAKE_KEYS["convoi"], "CONVOI_BASE_URL": "http://127.0.0.1:9"}


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return build_app(tmp_path, CATALOGUE, **ENV).test_client()


def test_a_spanish_agents_page_is_in_spanish(client: FlaskClient) -> None:
    response = client.get("/talk/ava")
    html = response.get_data(as_text=True)
    spanish = words_for("es")
    assert '<html lang="es"' in html and 'id="call" lang="es"' in html
    assert spanish("Talk to {title}", title="Ava") in html and "Talk to Ava" not in html
    assert f">{spanish('Hang up')}</span>" in html
    page = config(html)
    assert page["lang"] == "es"
    assert page["words"] == spanish.script  # the script's words come with the page: no request
    assert "Accept-Language" not in response.headers.get("Vary", "")  # the same page for everyone


def test_lang_in_the_address_chooses_another(client: FlaskClient) -> None:
    html = client.get("/talk/ava?lang=fr").get_data(as_text=True)
    assert '<html lang="fr"' in html and config(html)["words"] == words_for("fr").script
    assert config(client.get("/talk/ava?lang=xx").get_data(as_text=True))["lang"] == "es"


def test_a_value_in_a_right_to_left_sentence_is_isolated_unless_plain() -> None:
    """A name inside an Arabic or Urdu sentence is isolated: its own direction, its "!" at its
    end. A plain one (letters and digits, a request id) is not: it reads the same either way,
    and an id copied from the error page carried two invisible characters no log search matched."""
    for language in ("ar", "ur"):
        words = words_for(language)
        assert "\u2068Acme Support!\u2069" in words("Talk to {title}", title="Acme Support!")
        said = words("Reference: {id}", id="3f2a9c1d0b8e4a7f9d6c5b4a3e2f1a0b")
        assert "3f2a9c1d0b8e4a7f9d6c5b4a3e2f1a0b" in said and "\u2068" not in said
        assert "\u2068" not in words("Talk to {title}", title="req_7-b")
    assert words_for("fr")("Talk to {title}", title="Acme Support!") == "Parler à Acme Support!"


def test_the_pages_script_isolates_values_by_the_same_rule() -> None:
    """static/src/words.js's t(), run by Node as the page runs it (it imports nothing)."""
    module = module_uri("static/src/words.js")
    script = (
        f"import {{ t, useWords }} from {json.dumps(module)};\n"
        "useWords('ar', {}, 'rtl');\n"
        "console.log(JSON.stringify([t('Reference: {id}', { id: '3f2a9c1d' }),"
        " t('Talk to {title}', { title: 'Acme Support!' })]));\n"
        "useWords('fr', {}, 'ltr');\n"
        "console.log(JSON.stringify([t('Talk to {title}', { title: 'Acme Support!' })]));\n"
    )
    arabic, french = (json.loads(line) for line in run_module_script(script).splitlines())
    assert arabic == ["Reference: 3f2a9c1d", "Talk to \u2068Acme Support!\u2069"]
    assert french == ["Talk to Acme Support!"]


def test_arabic_and_urdu_pages_run_right_to_left(client: FlaskClient) -> None:
    """``dir`` on the page and on the panel (a widget's sits in a host page of its own direction);
    the other languages say ``ltr``."""
    for language in ("ar", "ur"):
        html = client.get(f"/talk/ava?lang={language}").get_data(as_text=True)
        assert f'<html lang="{language}" dir="rtl"' in html and f'lang="{language}" dir="rtl"' in html
        assert words_for(language)("Talk to {title}", title="Ava") in html
        headers = {"Origin": "https://shop.example.com"}
        panel = client.get(f"/embed/ava/panel?lang={language}", headers=headers).get_json()
        assert f'id="call" lang="{language}" dir="rtl"' in panel["html"]
    assert '<html lang="es" dir="ltr"' in client.get("/talk/ava").get_data(as_text=True)
    assert '<html lang="en" dir="ltr"' in client.get("/").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl"' in client.get("/talk/nobody?lang=ar").get_data(as_text=True)  # a 404


def test_an_english_page_carries_no_words(client: FlaskClient) -> None:
    html = client.get("/talk/plain", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="en"' in html and "Talk to Plain" in html
    assert config(html)["lang"] == "en" and config(html)["words"] == {}


def test_auto_follows_the_browser_and_says_it_varies(client: FlaskClient) -> None:
    response = client.get("/talk/auto", headers={"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
    html = response.get_data(as_text=True)
    assert config(html)["lang"] == "de" and words_for("de")("Hang up") in html
    assert "Accept-Language" in response.headers["Vary"]
    assert config(client.get("/talk/auto").get_data(as_text=True))["lang"] == "en"


def test_the_widgets_panel_and_the_iframe_speak_the_agents_language(client: FlaskClient) -> None:
    panel = client.get("/embed/ava/panel", headers={"Origin": "https://shop.example.com"}).get_json()
    assert panel["config"]["lang"] == "es" and panel["config"]["words"] == words_for("es").script
    assert 'id="call" lang="es"' in panel["html"]
    assert words_for("es")("Hang up") in panel["html"]
    panel = client.get("/embed/ava/panel?lang=pt", headers={"Origin": "https://shop.example.com"}).get_json()
    assert panel["config"]["lang"] == "pt"
    html = client.get("/embed/ava?lang=hi").get_data(as_text=True)
    assert '<html lang="hi"' in html and words_for("hi")("Hang up") in html


def test_a_phone_only_agents_form_and_its_default_consent_in_its_language(client: FlaskClient) -> None:
    html = client.get("/talk/callback").get_data(as_text=True)
    portuguese = words_for("pt")
    consent = portuguese("I agree that {title} may call this number now.", title="Callback")
    assert config(html)["phone"]["consent_text"] == consent
    assert consent in html and portuguese("Get a call on your phone") in html
    assert f">{portuguese('Phone number')}</span>" in html


def test_an_unknown_page_language_stops_the_app_with_the_reason(tmp_path: Path) -> None:
    expected = r"\[agents.ava\]: page_language: Input should be 'auto', 'en', 'es'"
    with pytest.raises(ConfigError, match=expected):
        build_app(tmp_path, CATALOGUE.replace('page_language = "es"', 'page_language = "xx"'), **ENV)


def test_a_refused_demo_link_says_why_in_the_demos_language(client: FlaskClient) -> None:
    response = client.get("/demo/ava?t=not-a-link")
    html = response.get_data(as_text=True)
    spanish = words_for("es")
    assert response.status_code == 403
    assert '<html lang="es"' in html
    assert spanish(LINK_REFUSED) in html and spanish(InvalidDemoLink.message) in html
    assert spanish("Error {status}", status=403) in html and spanish("Back to the start page") in html
    assert InvalidDemoLink.message not in html
    assert '<html lang="en"' in client.get("/demo/plain?t=not-a-link").get_data(as_text=True)


def test_the_agent_list_speaks_the_agents_language_or_the_browsers(
    client: FlaskClient, tmp_path: Path
) -> None:
    # Agents of several languages: the browser's, and ?lang= goes on to the agents' pages.
    mixed = client.get("/", headers={"Accept-Language": "fr-FR, fr;q=0.9"})
    html = mixed.get_data(as_text=True)
    french = words_for("fr")
    assert '<html lang="fr"' in html and french("Pick an agent to start a call.") in html
    assert f'{french("Call my phone")} <span aria-hidden="true">→' in html and 'href="/talk/ava"' in html
    assert french("A voice call runs in your browser: you will be asked to allow your microphone.") in html
    assert "Accept-Language" in mixed.headers["Vary"]
    asked = client.get("/?lang=hi", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="hi"' in asked and 'href="/talk/ava?lang=hi"' in asked
    # Agents of one language: theirs, whatever the browser's.
    spanish = """
[agents.uno]
provider = "livekit"
agent_id = "webcall-demo"
title = "Uno"
page_language = "es"

[agents.dos]
provider = "livekit"
agent_id = "webcall-demo"
title = "Dos"
page_language = "es"
"""
    page = build_app(tmp_path, spanish).test_client().get("/", headers={"Accept-Language": "de"})
    assert '<html lang="es"' in page.get_data(as_text=True)
    assert "Accept-Language" not in page.headers.get("Vary", "")


class _Words(HTMLParser):
    """The words a page shows or reads out: its text, and the attributes that carry words."""

    SAID = ("aria-label", "title", "placeholder", "alt", "data-empty")

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skipping += tag in ("script", "style")
        self.found.update(value.strip() for name, value in attrs if name in self.SAID and value)

    def handle_endtag(self, tag: str) -> None:
        self.skipping -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.found.add(" ".join(data.split()))


def said_on(html: str) -> set[str]:
    parser = _Words()
    parser.feed(html)
    return parser.found


EVERYTHING = """
[agents.everything]
provider = "convoi"
agent_id = "agt_b88d642dd68747f28305c428b209abcd"
title = "Everything"
description = "Ask me anything."
consent_text = "Calls are recorded."
camera = "optional"
screen_share = true
text_only = "allowed"
push_to_talk = true
feedback = true
[agents.everything.phone]
enabled = true
allowed_countries = ["US"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
"""


@pytest.mark.parametrize("language", OTHERS)
def test_no_word_of_the_page_is_left_in_english(language: str, tmp_path: Path) -> None:
    """Whatever a translated page shows that its English page shows too is the agent's own text
    (or no word at all): a text the templates forgot to give ``_`` would show up here."""
    client = build_app(tmp_path, EVERYTHING, **ENV).test_client()
    own = {"Everything", "Ask me anything.", "Calls are recorded.", "E"}  # the agent's, and its initial
    # A word its language writes as English does ("Camera" in Dutch), by its catalogue.
    kept = {english for english, said in words_for(language).page.items() if said == english}
    for path in ("/talk/everything", "/demo/everything"):
        english = said_on(client.get(path).get_data(as_text=True))
        translated = said_on(client.get(f"{path}?lang={language}").get_data(as_text=True))
        # Words, not the timer; a country's option says its code until the script names it.
        worded = {text for text in english & translated - own if re.search(r"[A-Za-z]{2}", text)}
        same = {text for text in worded if not re.fullmatch(r"[A-Z]{2} \(\u2066\+\d+\u2069\)", text)}
        assert not same - kept, (path, sorted(same - kept))


def test_the_config_carries_its_words_as_utf8_and_stays_html_safe(tmp_path: Path) -> None:
    """The words ride in the page's JSON as written (not ``\\u0915…``, twice the weight), and
    nothing in it can end its <script> element or open a tag."""
    hostile = CATALOGUE.replace(
        'title = "Plain"', "title = \"Plain </script><img src=x onerror=alert(1)> & 'q'\""
    )
    client = build_app(tmp_path, hostile, **ENV).test_client()
    html = client.get("/talk/plain?lang=hi").get_data(as_text=True)
    script = html.split('id="webcall-config">', 1)[1].split("</script>", 1)[0]
    assert words_for("hi").script["Hang up"] in script and "\\u0915" not in script
    assert "<" not in script and ">" not in script and "&" not in script and "'" not in script
    assert config(html)["title"] == "Plain </script><img src=x onerror=alert(1)> & 'q'"


def test_a_page_for_an_agent_that_is_not_there_speaks_the_visitors_language(client: FlaskClient) -> None:
    french, german = words_for("fr"), words_for("de")
    page = client.get("/talk/nobody", headers={"Accept-Language": "fr-CA, en;q=0.5"})
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and '<html lang="fr"' in html
    assert french("Not found") in html and french("Error {status}", status=404) in html
    framed = client.get("/embed/nobody?lang=de").get_data(as_text=True)
    assert german("There is nothing at this address. Check the link you were given.") in framed
    assert "Not found" in client.get("/demo/nobody").get_data(as_text=True)  # no language asked: English

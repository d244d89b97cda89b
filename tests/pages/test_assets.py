"""The page's files as the app serves them: compressed, hashed and immutable; pages revalidated."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.apps import build_app
from tests.support.processes import ROOT

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
allowed_origins = ["https://shop.example.com"]
"""
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    """The app with one agent."""
    return build_app(tmp_path, CATALOGUE)


def page_assets(client: FlaskClient) -> list[str]:
    """The scripts, preloads and stylesheets the call page names."""
    html = client.get("/talk/local").get_data(as_text=True)
    return re.findall(r'(?:src|href)="(/static/dist/[^"]+)"', html)


def test_the_page_names_hashed_files_and_preloads_their_chunks(app: Flask) -> None:
    urls = page_assets(app.test_client())
    assert any(re.search(r"/call-[A-Z0-9]{8}\.js$", u) for u in urls), urls
    assert any(re.search(r"/call-style-[A-Z0-9]{8}\.css$", u) for u in urls), urls
    assert any("/chunks/" in u for u in urls), urls  # livekit-client's chunk, preloaded beside the entry
    html = app.test_client().get("/talk/local").get_data(as_text=True)
    assert "sourceMappingURL" not in html


def test_the_page_s_scripts_are_compiled_as_they_load(app: Flask) -> None:
    """Chrome's explicit compile hint opens each script, so the click does not compile the SDK
    (bench/README.md, "The floor"); a comment anywhere else is ignored."""
    scripts = [u for u in page_assets(app.test_client()) if u.endswith(".js")]
    assert len(scripts) >= 2, scripts  # the entry and livekit-client's chunk
    for url in scripts:
        first_line = (ROOT / "static" / url.removeprefix("/static/")).read_text().split("\n", 1)[0]
        assert first_line == "//# allFunctionsCalledOnLoad", url


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_hashed_files_arrive_compressed_and_immutable(app: Flask, encoding: str) -> None:
    client = app.test_client()
    urls, compressed = page_assets(client), 0
    assert urls
    for url in urls:
        response = client.get(url, headers={"Accept-Encoding": f"{encoding}, identity"})
        raw = (ROOT / "static" / url.removeprefix("/static/")).read_bytes()
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == IMMUTABLE, url
        assert b"sourceMappingURL" not in raw  # maps exist for operators, never fetched by visitors
        if len(raw) < 1000:
            continue  # a tiny entry file: compressing it would save nothing worth a Vary
        assert response.headers["Content-Encoding"] == encoding, url
        assert "Accept-Encoding" in response.headers["Vary"]
        # Really compressed: by half, or for a small file (its coding's own overhead) by a fifth.
        assert len(response.data) < len(raw) * (0.5 if len(raw) > 4096 else 0.8), url
        compressed += 1
    assert compressed  # livekit-client's chunk at least


def test_the_call_page_is_at_most_170_kb_on_the_wire(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/talk/local", headers={"Accept-Encoding": "br"})
    sizes = [len(client.get(u, headers={"Accept-Encoding": "br"}).data) for u in page_assets(client)]
    assert len(html.data) + sum(sizes) <= 170_000, sizes


def test_the_call_page_s_code_is_at_most_170_kb_gzipped(app: Flask) -> None:
    """Issue 3's measure: our JS and CSS with livekit-client, as a client without brotli gets them,
    and as anyone's gzip would make them (zlib's best packs 3% looser than the zopfli copies sent)."""
    client = app.test_client()
    urls = page_assets(client)
    sizes = [len(client.get(u, headers={"Accept-Encoding": "gzip"}).data) for u in urls]
    assert sum(sizes) <= 170_000, sizes
    files = [(ROOT / "static" / u.removeprefix("/static/")).read_bytes() for u in urls]
    rezipped = [len(gzip.compress(raw, compresslevel=9)) for raw in files]
    assert sum(rezipped) <= 170_000, rezipped


def test_a_page_is_gzipped_for_browsers_that_take_it(app: Flask) -> None:
    client = app.test_client()
    plain = client.get("/talk/local")
    packed = client.get("/talk/local", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data) / 2
    assert packed.headers["ETag"] != plain.headers["ETag"]  # each encoding its own tag
    revalidate = {"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]}
    again = client.get("/talk/local", headers=revalidate)
    assert again.status_code == 304 and again.data == b""
    missing = client.get("/talk/nobody", headers={"Accept-Encoding": "gzip"})  # error pages: as they are
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers


def test_the_embed_loader_is_small_revalidated_and_open_to_every_site(app: Flask) -> None:
    client = app.test_client()
    loader = client.get("/embed.js", headers={"Accept-Encoding": "br"})
    assert loader.status_code == 200 and loader.headers["Content-Encoding"] == "br"
    assert len(loader.data) <= 5_000
    assert loader.mimetype == "text/javascript"
    assert loader.headers["Cache-Control"] == "max-age=300, public"
    assert loader.headers["Access-Control-Allow-Origin"] == "*"
    again = client.get("/embed.js", headers={"If-None-Match": loader.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_pages_revalidate_with_an_etag(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/talk/local")
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = client.get("/talk/local", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]


def test_widget_assets_load_from_other_sites(app: Flask) -> None:
    client = app.test_client()
    panel = client.get("/embed/local/panel", headers={"Origin": "https://shop.example.com"}).get_json()
    for url in (panel["script_url"], panel["css_url"]):
        response = client.get(url.replace("http://localhost", ""))
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


MEDIA_MODULES = ("agent-video", "camera", "screen-share", "push-to-talk", "text-only")


def test_media_code_is_in_chunks_of_its_own_that_the_page_does_not_load(app: Flask) -> None:
    """Video, camera, screen share, push-to-talk and chat load only for agents that use them.

    Each is a chunk importing nothing (livekit-client's names are handed to it), so the page's
    own code and livekit-client stay one preloaded chunk, and the page names none of them.
    """
    chunks = ROOT / "static" / "dist" / "chunks"
    for name in MEDIA_MODULES:
        [chunk] = chunks.glob(f"{name}-*.js")
        assert not re.search(r"\bimport\s*[{\"*]", chunk.read_text()), f"{chunk.name} imports another chunk"
    urls = page_assets(app.test_client())
    assert not [u for u in urls if any(f"/{name}-" in u for name in MEDIA_MODULES)], urls
    assert len([u for u in urls if "/chunks/" in u]) == 1, urls  # our code and livekit-client, together


@pytest.mark.parametrize("host", ["a..b", "..", "x" * 64 + ".example"])
def test_a_host_werkzeug_refuses_gets_the_400_page_with_its_stylesheet(app: Flask, host: str) -> None:
    """Found by fuzzing: with such a Host the request has no URL adapter, so the 400 page's
    stylesheet URL (``url_for``) failed inside the error page and gunicorn answered a bare 500."""
    response = app.test_client().get("/talk/local", headers={"Host": host})
    assert response.status_code == 400
    assert re.search(r'href="/static/dist/call-style-[A-Z0-9]{8}\.css"', response.get_data(as_text=True))

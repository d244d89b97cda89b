"""The embeds' guards: exactly the agent's allowed origins may frame the iframe page or get the
script embed's panel; the loader and the call code are public files that grant nothing."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.apps import build_app, post

CATALOGUE = """
[agents.sales]
provider = "livekit"
agent_id = "webcall-demo"
allowed_origins = ["https://shop.example.com", "http://127.0.0.1:8123"]

[agents.private]
provider = "livekit"
agent_id = "webcall-demo"
"""


def test_iframe_page_names_exactly_the_allowed_ancestors(tmp_path: Path) -> None:
    app = build_app(tmp_path, CATALOGUE)
    response = app.test_client().get("/embed/sales")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()  # type: ignore[union-attr]
    assert ancestors == ["https://shop.example.com", "http://127.0.0.1:8123"]  # exactly those
    private = app.test_client().get("/embed/private").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in private and "shop.example.com" not in private
    assert "frame-ancestors 'none'" in app.test_client().get("/talk/sales").headers["Content-Security-Policy"]


def test_a_site_not_allowed_gets_no_panel_and_no_call_though_the_call_code_is_public(tmp_path: Path) -> None:
    """What docs/embedding.md says of a site that is not allowed: the panel and POST /api/calls
    refuse it; embed.js and the call code are public (any site may load them)."""
    app = build_app(tmp_path, CATALOGUE)
    client = app.test_client()
    elsewhere = {"Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"}
    panel = client.get("/embed/sales/panel", headers=elsewhere)
    assert (panel.status_code, panel.get_json()["error"]["code"]) == (403, "origin_not_allowed")
    assert "html" not in panel.get_json() and "script_url" not in panel.get_json()
    call = post(app, {"agent": "sales"}, **elsewhere)
    assert (call.status_code, call.get_json()["error"]["code"]) == (403, "origin_not_allowed")

    allowed = client.get("/embed/sales/panel", headers={"Origin": "https://shop.example.com"}).get_json()
    for path in ("/embed.js", urlsplit(allowed["script_url"]).path):
        public = client.get(path, headers=elsewhere)
        assert public.status_code == 200 and public.headers["Access-Control-Allow-Origin"] == "*", path


def test_the_panel_comes_gzipped_to_a_client_that_takes_it(tmp_path: Path) -> None:
    """The widget's panel (its HTML and config, 6.3 kB of JSON) came uncompressed, the one
    text answer of the widget's opening that did."""
    client = build_app(tmp_path, CATALOGUE).test_client()
    origin = {"Origin": "https://shop.example.com"}
    plain = client.get("/embed/sales/panel", headers=origin)
    packed = client.get("/embed/sales/panel", headers={**origin, "Accept-Encoding": "gzip, deflate, br"})
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data) / 2
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    assert packed.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert packed.headers["Cache-Control"] == "no-store" and "ETag" not in packed.headers

"""The iframe embed: exactly the agent's allowed origins may frame it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.apps import build_app

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

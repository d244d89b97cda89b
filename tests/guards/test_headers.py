"""The headers every answer carries, and the strict policy of our pages."""

from __future__ import annotations

from pathlib import Path

from tests.support.apps import FAKE_KEYS, OfflineLiveKit, build_app

CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"
"""


def test_pages_send_strict_headers(tmp_path: Path) -> None:
    client = build_app(tmp_path, CATALOGUE).test_client()
    page = client.get("/talk/local")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    html = page.get_data(as_text=True)
    # No inline script runs: every <script> is a file of ours or a JSON data block.
    tags = html.split("<script")[1:]
    assert tags
    for tag in tags:
        opening = tag.split(">", 1)[0]
        assert 'src="/static/dist/' in opening or 'type="application/json"' in opening, opening
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "microphone=(self)" in page.headers["Permissions-Policy"]
    missing = client.get("/talk/nobody")
    assert missing.status_code == 404 and "microphone=()" in missing.headers["Permissions-Policy"]
    assert missing.headers["Cache-Control"] == "no-store"


def test_answers_over_https_ask_browsers_to_stay_on_https(tmp_path: Path) -> None:
    """HSTS on every answer served over https (directly, or behind a trusted TLS proxy): the admin
    session's cookie and the microphone page are never offered over plain http again. Over http
    browsers ignore it, and a local http server must not send it."""
    app = build_app(tmp_path, CATALOGUE, WEBCALL_TRUSTED_PROXIES="1")
    client = app.test_client()
    for path in ("/talk/local", "/api/calls", "/healthz"):
        secure = client.get(path, base_url="https://calls.example.com")
        assert secure.headers["Strict-Transport-Security"] == "max-age=31536000", path
        assert "Strict-Transport-Security" not in client.get(path).headers, path
    behind_tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    proxied = client.get("/talk/local", headers=behind_tls)
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_the_sdk_may_reach_exactly_our_plain_http_livekit_server(tmp_path: Path) -> None:
    """ws:// in development: the SDK's validate and warm-up fetches go to its http:// origin."""
    csp = build_app(tmp_path, CATALOGUE).test_client().get("/talk/local").headers["Content-Security-Policy"]
    connect = csp.split("connect-src ", 1)[1].split(";", 1)[0].split()
    http_origin = OfflineLiveKit.url.replace("ws://", "http://")
    assert connect == ["'self'", "ws:", "wss:", "https:", http_origin]  # not every http: origin


MEDIA_CATALOGUE = """
[agents.local]
provider = "livekit"
agent_id = "webcall-demo"

[agents.seeing]
provider = "livekit"
agent_id = "webcall-demo"
camera = "optional"
screen_share = true

[agents.chat]
provider = "livekit"
agent_id = "webcall-demo"
text_only = "only"
"""


def policy(response: object) -> dict[str, str]:
    """The Permissions-Policy header as feature → allowlist."""
    header = response.headers["Permissions-Policy"]  # type: ignore[attr-defined]
    return dict(item.split("=", 1) for item in header.split(", "))


def test_pages_allow_exactly_the_devices_their_agent_uses(tmp_path: Path) -> None:
    client = build_app(tmp_path, MEDIA_CATALOGUE).test_client()
    voice = policy(client.get("/talk/local"))
    assert voice == {"microphone": "(self)", "autoplay": "(self)", "camera": "()", "display-capture": "()"}
    for path in ("/talk/seeing", "/embed/seeing"):
        seeing = policy(client.get(path))
        assert seeing["camera"] == "(self)" and seeing["display-capture"] == "(self)", path
    chat = policy(client.get("/talk/chat"))
    # A chat never opens the microphone, but the agent's voice may still play.
    assert chat == {"microphone": "()", "autoplay": "(self)", "camera": "()", "display-capture": "()"}


PHONE_ONLY = """
[agents.callback]
provider = "convoi"
agent_id = "agt_b88d642dd68747f28305c428b209abcd"
web = false
camera = "optional"
[agents.callback.phone]
enabled = true
allowed_countries = ["US"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
"""


def test_a_phone_only_agents_pages_allow_no_device(tmp_path: Path) -> None:
    """Its page and frame only ask for a number: the microphone was granted there all the same."""
    env = {"CONVOI_API_KEY": FAKE_KEYS["convoi"], "CONVOI_BASE_URL": "http://127.0.0.1:9"}
    client = build_app(tmp_path, PHONE_ONLY, **env).test_client()
    for path in ("/talk/callback", "/embed/callback"):
        assert policy(client.get(path)) == {
            "microphone": "()", "autoplay": "(self)", "camera": "()", "display-capture": "()"
        }, path  # fmt: skip

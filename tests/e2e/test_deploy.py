"""Deployed as the README says: Debian's nginx with TLS in front of gunicorn and LiveKit.

nginx runs ``docs/nginx.conf`` (only addresses, names and certificates changed), with a
certificate this test makes. It reaches gunicorn from 127.0.0.2, an address gunicorn does
not trust, so only the app's own settings, as the file's header gives them
(``WEBCALL_PUBLIC_URL``, ``WEBCALL_TRUSTED_PROXIES=1``), tell it it is served over https
(``tests/guards/test_origin.py`` shows ``WEBCALL_PUBLIC_URL`` alone is enough).
Chromium opens ``https://…/talk/demo`` and talks to the demo agent through ``wss://``; the
embed loader works on a second https origin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Playwright, expect

from tests.support.browser import CHROMIUM_ARGS, launch_chromium, wait_for_state
from tests.support.livekit_server import LiveKitServer
from tests.support.processes import ROOT, Process, free_port, wait_until
from tests.support.raw_http import send_raw, split_answer
from tests.support.services import self_signed_certificate, start_nginx
from tests.support.stack import AppServer, start_app_server

pytestmark = pytest.mark.e2e
AGENTS = """
[agents.demo]
provider = "livekit"
agent_id = "webcall-demo"
title = "Demo agent"
greeting = "Hello from behind the proxy."

[agents.widget]
provider = "livekit"
agent_id = "webcall-demo"
title = "Widget agent"
greeting = "Hello from the widget."
allowed_origins = ["{site}"]
"""


def render_nginx_conf(
    app_port: int, livekit_port: int, ports: dict[str, int], cert: Path, key: Path, logs: Path
) -> str:
    """docs/nginx.conf with this test's addresses, names, certificate and log folder; the rest verbatim."""
    text = (ROOT / "docs" / "nginx.conf").read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "server 127.0.0.1:7880;": f"server 127.0.0.1:{livekit_port};",
        # The plain-http server that sends visitors to https: an address of its own (first, since
        # the next line is about the https server's name).
        "    listen 80;\n    server_name calls.example.com;\n": f"    listen 127.0.0.1:{ports['http']};\n",
        "server_name calls.example.com;": f"listen 127.0.0.1:{ports['app']} ssl http2;",
        "server_name livekit.example.com;": f"listen 127.0.0.1:{ports['livekit']} ssl;",
        # Another host, as far as the app can tell: the proxy need not be on the app's host.
        "proxy_pass http://webcall;": "proxy_bind 127.0.0.2;\n        proxy_pass http://webcall;",
        "listen 443 ssl http2;\n": "",
        "listen 443 ssl;\n": "",
        "access_log /var/log/nginx/access.log webcall;": f"access_log {logs / 'nginx-access.log'} webcall;",
    }
    for old, new in replacements.items():
        assert old in text, f"docs/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    for name in ("calls", "livekit"):
        text = text.replace(f"/etc/ssl/certs/{name}.example.com.pem", str(cert))
        text = text.replace(f"/etc/ssl/private/{name}.example.com.key", str(key))
    return text


def customer_site(folder: Path, port: int, cert: Path, key: Path, app_url: str) -> str:
    """A second https origin (localhost) serving a landing page with the script embed."""
    folder.mkdir(parents=True, exist_ok=True)
    page = (ROOT / "tests" / "embed_host" / "widget.html").read_text().replace("{{WEBCALL_URL}}", app_url)
    (folder / "widget.html").write_text(page)
    return (
        f"server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name localhost;\n"
        f"  ssl_certificate {cert};\n  ssl_certificate_key {key};\n  root {folder};\n}}\n"
    )


@pytest.fixture(scope="module")
def deployment(
    livekit_server: LiveKitServer,
    demo_agent: Process,
    artifacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """gunicorn and LiveKit behind nginx with TLS, as docs/nginx.conf describes."""
    folder = tmp_path_factory.mktemp("deploy")
    cert, key = self_signed_certificate(folder)
    ports = {"app": free_port(), "livekit": free_port(), "site": free_port(), "http": free_port()}
    app_url, site = f"https://127.0.0.1:{ports['app']}", f"https://localhost:{ports['site']}"
    env = {
        "LIVEKIT_URL": f"wss://127.0.0.1:{ports['livekit']}",  # what browsers are told: the proxy
        "LIVEKIT_BASE_URL": livekit_server.http_url,  # what the app itself calls: the server
        "LIVEKIT_API_KEY": livekit_server.api_key,
        "LIVEKIT_API_SECRET": livekit_server.api_secret,
        "WEBCALL_PUBLIC_URL": app_url,
        "WEBCALL_TRUSTED_PROXIES": "1",
    }
    logs = artifacts / "logs" / "deploy"
    app: AppServer = start_app_server(env, logs, agents_toml=AGENTS.format(site=site))
    servers = render_nginx_conf(int(app.url.rsplit(":", 1)[1]), livekit_server.port, ports, cert, key, logs)
    site_server = customer_site(folder / "site", ports["site"], cert, key, app_url)
    nginx = start_nginx(folder / "nginx", servers + site_server, logs)
    yield {
        "app_url": app_url, "site": site, "gunicorn": app, "nginx": nginx, "http_port": ports["http"],
        "access_log": logs / "nginx-access.log",  # every server's, in docs/nginx.conf's format
    }  # fmt: skip
    nginx.stop()
    app.process.stop()


@pytest.fixture(scope="module")
def tls_page(playwright: Playwright, speech_wav: Path) -> Iterator[Page]:
    """A Chromium that accepts the test's self-signed certificate (for https and wss alike)."""
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={speech_wav}", "--ignore-certificate-errors"]
    with launch_chromium(playwright, args) as browser:
        context = browser.new_context()
        yield context.new_page()
        context.close()


def test_a_call_through_the_tls_proxy(deployment: dict[str, Any], tls_page: Page) -> None:
    page, app_url = tls_page, deployment["app_url"]
    page.goto(f"{app_url}/talk/demo")
    expect(page.locator("#call")).to_have_attribute("data-ready", "")
    protocols = page.evaluate("performance.getEntries().map((e) => e.nextHopProtocol).filter(Boolean)")
    assert protocols and set(protocols) == {"h2"}, protocols  # the page and its files, over HTTP/2
    with page.expect_response(lambda r: r.url.endswith("/api/calls")) as made:
        page.click("#talk")
    assert made.value.status == 201, made.value.text()  # the https Origin is our own
    assert made.value.json()["livekit"]["url"].startswith("wss://")
    wait_for_state(page, "in-call")
    expect(page.locator('#transcript [data-speaker="agent"]').first).to_contain_text(
        "Hello from behind the proxy", timeout=20_000
    )
    page.click("#hangup")
    wait_for_state(page, "ended")
    # The app built its own links for the public https address, not the http one it is served on.
    panel = httpx.get(f"{app_url}/embed/widget/panel", headers={"Origin": deployment["site"]}, verify=False)
    assert panel.json()["config"]["api_url"] == f"{app_url}/api/calls"
    assert panel.json()["script_url"].startswith(f"{app_url}/static/")
    access = deployment["access_log"]
    assert "POST /api/calls" in access.read_text()  # the call really went through nginx
    # LiveKit's block logs the signalling socket (once it has closed) without the caller's token,
    # which livekit-client sends in the query.
    wait_until(lambda: "GET /rtc" in access.read_text(), timeout_s=10, what="the line for LiveKit's socket")
    assert "access_token" not in access.read_text()
    assert re.search(r'"GET /rtc[^ ?]*\?\*\*\* HTTP/1\.1" 101 ', access.read_text())


def test_plain_http_is_sent_to_https(deployment: dict[str, Any]) -> None:
    answer = httpx.get(f"http://127.0.0.1:{deployment['http_port']}/talk/demo?x=1")
    assert answer.status_code == 301 and answer.headers["location"] == "https://127.0.0.1/talk/demo?x=1"
    # A demo link opened over http:// carries its token there too: logged without its query.
    httpx.get(f"http://127.0.0.1:{deployment['http_port']}/demo/demo?t=demo.d3mo5ecret")
    access = deployment["access_log"]
    wait_until(lambda: "/demo/demo" in access.read_text(), timeout_s=5, what="nginx's line for the redirect")
    assert "d3mo5ecret" not in access.read_text()
    assert '"GET /demo/demo?*** HTTP/1.1" 301 ' in access.read_text()


def test_the_embed_works_from_another_https_site(deployment: dict[str, Any], tls_page: Page) -> None:
    page = tls_page
    page.goto(f"{deployment['site']}/widget.html")
    widget = page.locator("webcall-widget")
    widget.locator(".launcher").click()
    talk = widget.locator("#talk")
    expect(talk).to_be_visible(timeout=15_000)
    with page.expect_response(lambda r: r.url.endswith("/api/calls") and r.request.method == "POST") as made:
        talk.click()
    assert made.value.status == 201, made.value.text()
    expect(widget.locator("#call")).to_have_attribute("data-state", "in-call", timeout=25_000)
    expect(widget.locator('#transcript [data-speaker="agent"]').first).to_contain_text(
        "Hello from the widget", timeout=20_000
    )
    widget.locator("#hangup").click()
    expect(widget.locator("#call")).to_have_attribute("data-state", "ended", timeout=10_000)


def test_what_nginx_refuses_is_answered_in_json(deployment: dict[str, Any]) -> None:
    """A head or a body over nginx's own limits is refused by nginx, before the app: in the
    app's JSON error body (docs/nginx.conf's error pages), with nginx's request id."""
    with httpx.Client(base_url=deployment["app_url"], verify=False) as client:
        answers = {
            "headers": client.get("/api/agents/demo", headers={"X-Long": "a" * 9000}),
            "address": client.get("/api/agents/" + "a" * 9000),
            "body": client.post(
                "/api/calls", content=b" " * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}
            ),
        }
    codes = {name: (a.status_code, a.json()["error"]["code"]) for name, a in answers.items()}
    assert codes == {
        "headers": (431, "request_headers_too_large"),
        "address": (414, "uri_too_long"),
        "body": (413, "payload_too_large"),
    }
    access = deployment["access_log"]
    for answer in answers.values():
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "no-store"
        assert "x-request-id" not in answer.headers  # the app sends one with each of its answers
    # Each answer's request id leads to nginx's line (written as the request ends).
    ids = [f" {answer.json()['error']['request_id']}\n" for answer in answers.values()]
    wait_until(lambda: all(i in access.read_text() for i in ids), timeout_s=5, what="nginx's access lines")
    not_http = {
        "request line": b"GET /api/agents/demo HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        "chunked body": b"POST /api/calls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    }
    for name, request in not_http.items():
        status, headers, body = split_answer(send_raw(deployment["app_url"], request))
        answer = (status, headers.get("content-type"), json.loads(body)["error"]["code"])
        assert answer == (400, "application/json", "bad_request"), name
    with httpx.Client(base_url=deployment["app_url"], verify=False) as client:
        assert client.get("/.errors/bad_request").status_code == 404  # error pages only
        # Retell's and ElevenLabs' events may be up to 4 MiB: nginx passes 2 MiB to the app (which,
        # without those providers here, answers that the endpoint is off), and refuses 5 MiB.
        big = {"Content-Type": "application/json"}
        for name in ("retell", "elevenlabs"):
            passed = client.post(f"/webhooks/{name}", content=b" " * (2 * 1024 * 1024), headers=big)
            assert (passed.status_code, passed.json()["error"]["code"]) == (404, "not_found"), name
            assert "x-request-id" in passed.headers  # the app's answer, not nginx's
            refused = client.post(f"/webhooks/{name}", content=b" " * (5 * 1024 * 1024), headers=big)
            assert (refused.status_code, refused.json()["error"]["code"]) == (413, "payload_too_large"), name


def test_a_body_refused_over_http2_is_answered_in_json(deployment: dict[str, Any], tls_page: Page) -> None:
    """Browsers speak HTTP/2 to this server, where nginx checked the body's size again on its way
    to the error page and answered with its own HTML 413."""
    page = tls_page
    page.goto(f"{deployment['app_url']}/talk/demo")
    answer = page.evaluate("""async () => {
      const r = await fetch('/api/calls', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                           body: ' '.repeat(1024 * 1024 + 1)});
      const body = await r.text();
      await new Promise((done) => setTimeout(done, 100));  // the entry is queued once the body is read
      const entry = performance.getEntriesByType('resource').findLast((e) => e.name.endsWith('/api/calls'));
      return {status: r.status, type: r.headers.get('content-type'), body, protocol: entry?.nextHopProtocol};
    }""")
    assert answer["protocol"] == "h2"
    assert (answer["status"], answer["type"]) == (413, "application/json"), answer["body"][:200]
    assert json.loads(answer["body"])["error"]["code"] == "payload_too_large"


def test_nginx_logs_no_webhook_or_demo_link_token(deployment: dict[str, Any]) -> None:
    """The token in a webhook's address and a demo link's are secrets: nginx's access log masks
    them, in the request line and in the referer a demo page's own requests send, as the app's
    logs leave them out."""
    token, demo_token = "whk-" + "5ecret" * 6, "demo." + "d3mo5ecret" * 4
    demo_page = f"{deployment['app_url']}/demo/demo?t={demo_token}"
    with httpx.Client(base_url=deployment["app_url"], verify=False) as client:
        client.post(f"/webhooks/ravan/{token}", json={})
        client.get(f"/demo/demo?t={demo_token}")
        client.get("/healthz", headers={"Referer": demo_page})
    send_raw(deployment["app_url"], f"POST //webhooks//ravan/{token}?x=1 HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
    access = deployment["access_log"]
    wait_until(lambda: access.read_text().count("/webhooks") >= 2, timeout_s=5, what="nginx's access lines")
    wait_until(lambda: "/healthz" in access.read_text(), timeout_s=5, what="nginx's access line for /healthz")
    text = access.read_text()
    assert token not in text and demo_token not in text
    assert '"POST /webhooks/ravan/*** HTTP/1.1"' in text
    assert '"POST //webhooks//ravan/***?*** HTTP/1.1"' in text
    assert '"GET /demo/demo?*** HTTP/1.1"' in text
    assert f'"{deployment["app_url"]}/demo/demo?***"' in text


def test_the_app_not_answering_is_a_json_503_behind_nginx(artifacts: Path, tmp_path: Path) -> None:
    """gunicorn restarting or down: nginx answers the API and the webhooks with a JSON 503 and
    a Retry-After (a provider retries its webhook), and pages with its own 502 page."""
    cert, key = self_signed_certificate(tmp_path)
    ports = {"app": free_port(), "livekit": free_port(), "http": free_port()}
    logs = artifacts / "logs" / "deploy-app-down"
    servers = render_nginx_conf(free_port(), free_port(), ports, cert, key, logs)  # nothing listens there
    nginx = start_nginx(tmp_path / "nginx", servers, logs)
    try:
        with httpx.Client(base_url=f"https://127.0.0.1:{ports['app']}", verify=False) as client:
            machine = [client.post("/api/calls", json={"agent": "demo"}), client.post("/webhooks/livekit")]
            page = client.get("/talk/demo")
    finally:
        nginx.stop()
    for answer in machine:
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
        assert (answer.headers["content-type"], answer.headers["cache-control"]) == (
            "application/json",
            "no-store",
        )
        assert answer.json()["error"]["code"] == "app_unavailable"
    assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")

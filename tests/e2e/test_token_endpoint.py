"""``POST /api/token`` as LiveKit's own frontends use it: ``TokenSource.endpoint`` in Chromium.

``livekit-client``'s ``TokenSource`` and ``Room`` are bundled from node_modules (esbuild, as
the app's own bundle) and served to the page; the page fetches a token from webcall, joins
the room on the local LiveKit server and waits for the agent, exactly as agent-starter-react
does, from the app's own origin and from a customer's site on another origin.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.e2e.test_embed import host_url
from tests.support.processes import ROOT

pytestmark = pytest.mark.e2e

MODULE_PATH = "/static/__livekit_client_for_tests__.js"  # same origin as the page: its CSP allows it

# What a LiveKit frontend does: fetch connection details from the endpoint, join, meet the agent.
CONNECT = """
async ({ module, endpoint, options }) => {
  const { Room, TokenSource } = await import(module);
  let details;
  try {
    details = await TokenSource.endpoint(endpoint).fetch(options);
  } catch (error) {
    return { error: String(error.message || error) };
  }
  const room = new Room();
  await room.connect(details.serverUrl, details.participantToken);
  const deadline = Date.now() + 20000;
  while (room.remoteParticipants.size === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const others = [...room.remoteParticipants.values()];
  const joined = {
    serverUrl: details.serverUrl,
    room: room.name,
    identity: room.localParticipant.identity,
    name: room.localParticipant.name,
    others: others.map((p) => ({ identity: p.identity, isAgent: p.isAgent })),
  };
  await room.disconnect();
  return joined;
}
"""


@pytest.fixture(scope="session")
def livekit_client_module(artifacts: Path) -> bytes:
    """livekit-client's TokenSource and Room as one ES module, bundled the way the app's code is."""
    entry = b"export { Room, TokenSource } from 'livekit-client';"
    out = artifacts / "livekit-client-for-tests.js"
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    argv = [str(esbuild), "--bundle", "--format=esm", "--target=es2020", f"--outfile={out}"]
    subprocess.run(argv, input=entry, check=True, capture_output=True, cwd=ROOT)  # stdin resolves from ROOT
    return out.read_bytes()


def serve_module(page: Page, origin: str, module: bytes) -> str:
    """Serve the bundle at ``origin``; returns its URL."""
    url = f"{origin}{MODULE_PATH}"

    def fulfil(route: Route) -> None:
        route.fulfill(body=module, content_type="text/javascript")

    page.route(url, fulfil)
    return url


def connect(page: Page, module_url: str, endpoint: str, **options: Any) -> dict[str, Any]:
    """Run a LiveKit frontend's connection in the page; what it joined, or its error."""
    result: dict[str, Any] = page.evaluate(
        CONNECT, {"module": module_url, "endpoint": endpoint, "options": options}
    )
    return result


def test_a_livekit_frontend_on_our_origin(
    page: Page, console_log: list[str], stack: dict[str, Any], livekit_client_module: bytes
) -> None:
    app, livekit = stack["app"], stack["livekit"]
    page.goto(f"{app.url}/talk/demo")  # any page of ours: its CSP lets same-origin modules in
    module = serve_module(page, app.url, livekit_client_module)

    joined = connect(page, module, "/api/token", agentName="demo", participantName="Token Tester")
    assert "error" not in joined, joined
    assert joined["serverUrl"] == livekit.url
    assert joined["room"].startswith("webcall-demo-") and joined["identity"].startswith("caller-")
    assert joined["name"] == "Token Tester"
    assert [other["isAgent"] for other in joined["others"]] == [True]  # the demo agent came

    # Any provider behind the endpoint: Retell's agent is `server` in its room.
    retell = connect(page, module, "/api/token", agentName="retell-demo")
    assert [other["identity"] for other in retell["others"]] == ["server"], retell

    chosen = connect(page, module, "/api/token", agentName="demo", roomName="my-own-room")
    assert "400" in chosen["error"] and "room_name_not_allowed" in chosen["error"]


def test_a_livekit_frontend_on_a_customers_site(
    page: Page, console_log: list[str], stack: dict[str, Any], livekit_client_module: bytes
) -> None:
    app = stack["app"]
    endpoint = f"{app.url}/api/token"
    for site in ("allowed", "denied"):
        origin = stack["embed_hosts"][site].origin
        page.goto(host_url(stack, site, "frontend.html"))
        module = serve_module(page, origin, livekit_client_module)
        joined = connect(page, module, endpoint, agentName="widget")
        if site == "allowed":  # the `widget` agent lists this site in allowed_origins
            assert "error" not in joined, joined
            assert [other["isAgent"] for other in joined["others"]] == [True]
        else:
            # No CORS for a site no agent allows: the browser does not even send the request
            # (tests/calls/test_token_endpoint.py shows the 403 it would get).
            assert joined == {"error": "Failed to fetch"}
            assert any("blocked by CORS policy" in line for line in console_log), console_log

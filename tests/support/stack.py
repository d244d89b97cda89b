"""The app under gunicorn, configured with agents on every provider (hosted ones through fakes)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .processes import Process, free_port, http_ok, start, wait_until

AGENTS_TOML = """\
[agents.demo]
provider = "livekit"
agent_id = "webcall-demo"
title = "Demo agent"
greeting = "Hello {{{{name}}}}! I am the webcall demo agent."
variables = {{ name = "there" }}
allowed_variables = ["name"]

[agents.widget]
provider = "livekit"
agent_id = "webcall-demo"
title = "Widget agent"
greeting = "Hello from the widget."
allowed_origins = ["{embed_origin}"]

[agents.ravan-demo]
provider = "ravan"
agent_id = "{ravan_agent}"
title = "Ravan agent"
allowed_variables = ["name"]

[agents.convoi-demo]
provider = "convoi"
agent_id = "{convoi_agent}"
title = "Convoi agent"
greeting = "Hi, this is the Convoi agent speaking."

[agents.zudu-demo]
provider = "zudu"
agent_id = "{zudu_agent}"
title = "Zudu agent"
"""


@dataclass
class AppServer:
    """A running gunicorn serving ``webapp:create_app()``."""

    url: str
    process: Process


def start_app_server(env: dict[str, str], log_dir: Path, *, agents_toml: str) -> AppServer:
    """Run the production entry point (gunicorn, gunicorn.conf.py) on a free loopback port."""
    port = free_port()
    agents_file = log_dir / "agents.toml"
    log_dir.mkdir(parents=True, exist_ok=True)
    agents_file.write_text(agents_toml)
    argv = [
        sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "webapp:create_app()",
    ]  # fmt: skip
    full_env = {"WEBCALL_AGENTS_FILE": str(agents_file), "WEBCALL_RATE_LIMITS": "1000/minute", **env}
    process = start("gunicorn", argv, env=full_env, log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_until(http_ok(url + "/healthz"), timeout_s=20, what="gunicorn to serve", process=process)
    return AppServer(url, process)

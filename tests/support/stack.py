"""The app under gunicorn, configured with agents on every provider (hosted ones through fakes)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
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

# Their agents speak their own protocols (tests/support/protocol_agents.py):
[agents.retell-demo]
provider = "retell"
agent_id = "{retell_agent}"
title = "Retell agent"
allowed_variables = ["name"]

[agents.elevenlabs-demo]
provider = "elevenlabs"
agent_id = "{elevenlabs_agent}"
title = "ElevenLabs agent"
allowed_variables = ["name"]
allowed_origins = ["{embed_origin}"]

[agents.elevenlabs-late]
provider = "elevenlabs"
agent_id = "{elevenlabs_late_agent}"  # its agent joins a few seconds after the caller
title = "Late ElevenLabs agent"

# For the call page's tests (tests/e2e/test_call_page.py):
[agents.branded]
provider = "livekit"
agent_id = "webcall-demo"
title = "Acme Support"
description = "Questions about your order, answered."
greeting = "Hello from Acme Support."
accent_color = "#0f766e"
theme = "dark"
logo_url = "https://logo.example/acme.svg"
consent_text = "This call is recorded and transcribed so we can help you. By calling you agree to this."

[agents.nobody]
provider = "livekit"
agent_id = "webcall-nobody"  # no worker serves this dispatch name: the agent never joins
title = "Absent agent"

[agents.capped]
provider = "livekit"
agent_id = "webcall-nobody"  # nobody joins: only the server can end this call
title = "Capped call"
max_call_s = 10

[agents.limited]
provider = "livekit"
agent_id = "webcall-demo"
title = "Short-call agent"
greeting = "Hi."
ip_rate_limit = "1/hour"
max_call_s = 10

[agents.short]
provider = "livekit"
agent_id = "webcall-demo"
title = "Ten-second agent"
max_call_s = 10

# Beyond the voice (tests/e2e/test_media.py): an avatar, a camera and a screen, a chat, push-to-talk.
[agents.avatar]
provider = "livekit"
agent_id = "webcall-demo"
title = "Avatar agent"
greeting = "Hello, now you can see me."
avatar = true
allowed_origins = ["{embed_origin}"]

[agents.vision]
provider = "livekit"
agent_id = "webcall-demo"
title = "Vision agent"
greeting = "Show me something."
camera = "optional"
screen_share = true
allowed_origins = ["{embed_origin}"]

[agents.watcher]
provider = "livekit"
agent_id = "webcall-demo"
title = "Watching agent"
greeting = "I can see you."
camera = "on"

[agents.chat]
provider = "livekit"
agent_id = "webcall-demo"
title = "Chat agent"
greeting = "Hello, type to me."
text_only = "allowed"
allowed_origins = ["{embed_origin}"]

[agents.walkie]
provider = "livekit"
agent_id = "webcall-demo"
title = "Walkie-talkie agent"
greeting = "Hold the button to talk."
push_to_talk = true

# After the call, "How was your call?" (tests/e2e/test_feedback.py): on its own page, on a customer's
# site, and with nobody to answer (a call that never connected asks nothing).
[agents.rated]
provider = "livekit"
agent_id = "webcall-demo"
title = "Rated agent"
greeting = "Hi."
feedback = true
allowed_origins = ["{embed_origin}"]

[agents.rated-nobody]
provider = "livekit"
agent_id = "webcall-nobody"
title = "Unanswered agent"
feedback = true

# For the phone callbacks (tests/e2e/test_phone.py): a web agent that also calls phones, and a
# phone-only one. No Turnstile in this stack, so the bot check is turned off on purpose.
[agents.callback]
provider = "ravan"
agent_id = "{ravan_agent}"
title = "Callback agent"
allowed_origins = ["{embed_origin}"]
[agents.callback.phone]
enabled = true
allowed_countries = ["US", "GB"]
from_number = "+14157774444"
bot_check = false
cooldown_s = 0
consent_text = "Call me now on this number. I understand it is a one-off call."

[agents.phone-only]
provider = "convoi"
agent_id = "{convoi_agent}"
title = "Phone-only agent"
web = false
allowed_origins = ["{embed_origin}"]
[agents.phone-only.phone]
enabled = true
allowed_countries = ["US"]
phone_number_id = "phn_c38155f043624745a66d2e28c185abcd"
bot_check = false
cooldown_s = 0
"""


@dataclass
class AppServer:
    """A running gunicorn serving ``webapp:create_app()``."""

    url: str
    process: Process
    database_url: str = ""  # its call log

    def stop_now(self) -> None:
        """Stop gunicorn at once (SIGQUIT, its quick shutdown), for a test that is done with it: a
        graceful stop waits out the keep-alive connections a test's page still holds (5 s)."""
        if self.process.popen.poll() is None:
            self.process.popen.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.popen.wait(10)
        self.process.stop()  # SIGTERM, then SIGKILL, if it is somehow still there


def start_app_server(env: dict[str, str], log_dir: Path, *, agents_toml: str, workers: int = 2) -> AppServer:
    """Run the production entry point (gunicorn, gunicorn.conf.py) on a free loopback port."""
    port = free_port()
    # Each run gets its own catalogue and call log, beside its logs (kept with them, not in
    # /tmp): runs side by side must not overwrite each other's.
    log_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="app-", dir=log_dir))
    agents_file = folder / "agents.toml"
    agents_file.write_text(agents_toml)
    argv = [
        sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "webapp:create_app()",
    ]  # fmt: skip
    full_env = {
        "WEBCALL_AGENTS_FILE": str(agents_file),
        "WEBCALL_RATE_LIMITS": "1000/minute",
        "WEBCALL_DATABASE_URL": f"sqlite:///{folder / 'calls.db'}",  # its own call log
        **env,
    }
    process = start("gunicorn", argv, env=full_env, log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_until(http_ok(url + "/healthz"), timeout_s=20, what="gunicorn to serve", process=process)
    return AppServer(url, process, full_env["WEBCALL_DATABASE_URL"])

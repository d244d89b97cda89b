"""Real processes the tests run against: LiveKit server, demo agent, gunicorn."""

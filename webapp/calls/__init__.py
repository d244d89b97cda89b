"""Web calls: ``POST /api/calls`` turns an agent slug into a LiveKit URL and token."""

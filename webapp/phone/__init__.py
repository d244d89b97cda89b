"""Phone callbacks: "Call my phone" through providers that place outbound calls."""

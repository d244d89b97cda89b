"""Benchmarks for the fastest click-to-voice: ``python -m bench`` runs them all and prints a table.

One module per benchmark (``backend``, ``page_weight``, ``memory``, ``click_to_voice``), each
with a ``run(log_dir)`` returning :class:`bench.results.Result` rows. Everything runs on
loopback, is bounded in count and time, and stops what it starts.
"""

"""Call log: the admin view's search over a long call log, before and after its indexes.

Fills an SQLite call log at migration 0017 with ``BENCH_CALL_LOG_CALLS`` calls (200,000 by
default) spread over a year: most with a transcript of 14 lines and a summary, some refused,
some through demo links, some rated. Times the admin list's page and total for a search (``q``:
a call's id, a word in most transcripts, a word in none, a demo link's label) and for its
feedback filter, median of 3 each, then migrates to the head (0018's full-text index and 0019's
of the rated calls, built over the calls kept), times them again and prints both with their
ratio. Then the CPU of recording a call (``record_created``, in this process) with the index and
without it, 12 interleaved rounds of a batch's calls (``SEARCH_BATCH``), medians, and the index's
size. Then the same searches on PostgreSQL (a server of its own on loopback, when its binaries
are there), before and after the migrations, and a word in most calls through the trigram index
alone against the way the sample chooses (``SEARCH_SAMPLE``)."""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from tests.support.services import postgres_binaries, start_postgres
from webapp.history import store as store_module
from webapp.history.database import upgrade
from webapp.history.schema import calls
from webapp.history.store import CallAttempt, CallQuery, CallStore, client_reference

from .results import Result

NAME = "call_log"
CALLS = int(os.environ.get("BENCH_CALL_LOG_CALLS", "200000"))
WORDS = (
    "hello there I would like to hear about your product pricing plan refund order delivery tomorrow "
    "appointment booking cancel thanks great help account password support agent"
).split()
END = datetime(2026, 12, 1, tzinfo=UTC)
REFUSALS = ("rate_limited", "origin_not_allowed", "provider_error")
SEARCHES = {
    "search: a call's id (q='wc_000000100000')": CallQuery(text="wc_000000100000"),
    "search: a word in 60% of calls (q='refund')": CallQuery(text="refund"),
    "search: a word in none (q='zebra')": CallQuery(text="zebra"),
    "search: a demo link's label (q='Acme demo dl_0001')": CallQuery(text="Acme demo dl_0001"),
    "the calls rated bad (feedback=bad, 0019)": CallQuery(feedback="bad"),
}


def run(log_dir: Path) -> list[Result]:
    """Fill, time, index, time again; the CPU a call's record costs with the index."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "calls.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = CallStore(f"sqlite:///{path}")
    upgrade(store.engine, "0017")
    started = time.monotonic()
    _fill(store, CALLS)
    print(f"  {CALLS} calls written in {time.monotonic() - started:.0f} s", flush=True)
    before = _searches(store)
    size_before = path.stat().st_size
    started = time.monotonic()
    store.migrate()
    indexing_s = time.monotonic() - started
    after = _searches(store)
    size_after = path.stat().st_size
    store.close()
    rows = _compared("", before, after)
    rows.append(Result(NAME, "migrations 0018 and 0019: index the calls kept", f"{indexing_s:.1f} s"))
    rows.append(
        Result(NAME, "database file: without → with the index",
               f"{size_before / 2**20:.0f} → {size_after / 2**20:.0f} MiB (×{size_after / size_before:.2f})")
    )  # fmt: skip
    without, with_index = _record_cpu(log_dir)
    rows.append(
        Result(NAME, f"a call's record, CPU in process: 0017 → 0018 (12 × {store_module.SEARCH_BATCH} calls)",
               f"{without:.1f} → {with_index:.1f} µs (×{with_index / without:.3f})")
    )  # fmt: skip
    return rows + _postgresql()


def _postgresql() -> list[Result]:
    """SEARCHES on PostgreSQL at 0017 and at the head; a common word with the sample and without."""
    try:
        postgres_binaries()
    except RuntimeError as exc:
        return [Result(NAME, "PostgreSQL", f"not measured: {exc}")]
    server = start_postgres()
    store = CallStore(server.create_database())
    try:
        upgrade(store.engine, "0017")
        _fill(store, CALLS)
        _analyze(store)
        before = _searches(store)
        started = time.monotonic()
        store.migrate()
        indexing_s = time.monotonic() - started
        _analyze(store)
        after = _searches(store)
        common = CallQuery(text="refund")
        sampled = _median_ms(store, common)
        chosen_from = store_module.SEARCH_SAMPLED_FROM
        store_module.SEARCH_SAMPLED_FROM = CALLS + 1  # no sample: the index, always
        try:
            indexed = _median_ms(store, common)
        finally:
            store_module.SEARCH_SAMPLED_FROM = chosen_from
    finally:
        store.close()
        server.stop()
    rows = _compared("PostgreSQL, ", before, after)
    rows.append(Result(NAME, "PostgreSQL, migrations 0018 and 0019", f"{indexing_s:.1f} s"))
    rows.append(
        Result(NAME, "PostgreSQL, a word in 60% of calls: through the index alone → as the sample chooses",
               f"{indexed:.1f} → {sampled:.1f} ms (×{sampled / indexed:.2g})")
    )  # fmt: skip
    return rows


def _compared(database: str, before: dict[str, float], after: dict[str, float]) -> list[Result]:
    """A row for each of SEARCHES: its time before the indexes → after, and the ratio."""
    return [
        Result(NAME, f"{database}{CALLS:,} calls, {label}",
               f"{before[label]:.1f} → {after[label]:.1f} ms (×{after[label] / before[label]:.2g})")
        for label in SEARCHES
    ]  # fmt: skip


def _analyze(store: CallStore) -> None:
    """The planner's statistics, as autovacuum would have them by now."""
    with store.engine.connect() as connection:
        connection.execute(text("ANALYZE calls"))
        connection.commit()


def _fill(store: CallStore, count: int) -> None:
    """``count`` calls over the year to END, written 5,000 to a transaction."""
    rnd = random.Random(7)
    start = END - timedelta(days=365)
    links = [f"dl_{i:06d}" for i in range(3000)]
    batch: list[dict[str, Any]] = []
    for i in range(count):
        at = start + timedelta(days=365) * i / count
        refused = rnd.random() < 0.15
        link = rnd.choice(links) if rnd.random() < 0.05 else None
        row: dict[str, Any] = {
            "call_id": f"wc_{i:012d}{rnd.getrandbits(40):010x}",
            "provider": rnd.choice(["ravan", "zudu", "convoi", "livekit"]),
            "provider_call_id": None if refused else f"call_{rnd.getrandbits(64):016x}",
            "agent": f"agent-{rnd.randrange(12)}", "channel": "phone" if rnd.random() < 0.1 else "web",
            "room": None if refused else f"room-{i}", "origin": "https://www.example.com",
            "client_ref": f"{rnd.getrandbits(64):016x}", "request_id": f"{rnd.getrandbits(96):024x}",
            "demo_link_id": link, "demo_link_label": f"Acme demo {link}" if link else None,
            "outcome": rnd.choice(REFUSALS) if refused else "created",
            "status": "failed" if refused else rnd.choice(["ended"] * 8 + ["failed", "no_answer"]),
            "created_at": at, "updated_at": at, "started_at": None, "ended_at": None, "duration_s": None,
            "cost": None, "cost_currency": None, "transcript": None, "transcript_text": None, "summary": None,
            "feedback_rating": None, "feedback_at": None,
        }  # fmt: skip
        if not refused:
            row.update(started_at=at, ended_at=at + timedelta(seconds=90), duration_s=rnd.uniform(5, 400),
                       cost=rnd.uniform(0.01, 2), cost_currency="USD")  # fmt: skip
            if rnd.random() < 0.7:
                lines = [
                    {"role": rnd.choice(["agent", "user"]), "text": " ".join(rnd.choices(WORDS, k=12)),
                     "at": at.isoformat()}
                    for _ in range(14)
                ]  # fmt: skip
                row["transcript"] = lines
                row["transcript_text"] = "\n".join(f"{line['role']}: {line['text']}" for line in lines)
                row["summary"] = " ".join(rnd.choices(WORDS, k=30))
            if rnd.random() < 0.1:
                row.update(feedback_rating=rnd.choice(["good", "bad"]), feedback_at=at)
        batch.append(row)
        if len(batch) == 5000 or i == count - 1:
            with store.engine.begin() as connection:
                connection.execute(insert(calls), batch)
            batch = []


def _searches(store: CallStore) -> dict[str, float]:
    """Each of SEARCHES timed (ms)."""
    return {label: _median_ms(store, query) for label, query in SEARCHES.items()}


def _median_ms(store: CallStore, query: CallQuery) -> float:
    """The median of 3 timings of the list's page and total for ``query``, in ms."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        store.search(query)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _record_cpu(log_dir: Path) -> tuple[float, float]:
    """Process CPU per ``record_created`` at 0017 and at 0018, interleaved rounds, medians (µs)."""
    stores = []
    for revision in ("0017", "head"):
        path = log_dir / f"record-{revision}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store = CallStore(f"sqlite:///{path}")
        upgrade(store.engine, revision)
        stores.append(store)
    cpu: list[list[float]] = [[], []]
    for round_ in range(12):
        for index, store in enumerate(stores):
            attempt = CallAttempt(
                agent="sales", provider="ravan", provider_agent_id="agent-1", origin="https://shop.example.com",
                client_ref=client_reference("key", "203.0.113.9"), received_at=datetime.now(UTC),
                request_id="0123456789abcdef0123456789abcdef",
            )  # fmt: skip
            started = time.process_time()
            for i in range(store_module.SEARCH_BATCH):
                store.record_created(attempt, f"sess-{round_}-{i}", f"room-{round_}-{i}")
            cpu[index].append((time.process_time() - started) / store_module.SEARCH_BATCH * 1e6)
    for store in stores:
        store.close()
    return statistics.median(cpu[0]), statistics.median(cpu[1])

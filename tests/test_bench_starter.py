"""agent-starter-react for the floor: the two changes the benchmark makes to a checkout, and the
rows that compare our page with it (the build and the browser run with the benchmark itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import floor, starter

# The lines of livekit-examples/agent-starter-react the changes rely on, as they read upstream.
LAYOUT = """import { Public_Sans } from 'next/font/google';
import localFont from 'next/font/local';

const publicSans = Public_Sans({
  variable: '--font-public-sans',
  subsets: ['latin'],
});

export default function RootLayout() { return publicSans.variable; }
"""
ROUTE = """export async function POST(req: Request) {
  if (process.env.NODE_ENV !== 'development') {
    throw new Error('THIS API ROUTE IS INSECURE.');
  }
}
"""


def a_checkout(root: Path, layout: str = LAYOUT, route: str = ROUTE) -> Path:
    (root / "app" / "api" / "token").mkdir(parents=True)
    (root / "package.json").write_text('{"packageManager": "pnpm@9.15.9"}')
    (root / "app" / "layout.tsx").write_text(layout)
    (root / "app" / "api" / "token" / "route.ts").write_text(route)
    (root / "node_modules").mkdir()
    return root


def test_a_checkout_is_changed_in_a_copy_of_its_own(tmp_path: Path) -> None:
    source = a_checkout(tmp_path / "src")
    out = tmp_path / "out"
    starter.prepare(source, out)
    layout = (out / "app" / "layout.tsx").read_text()
    assert "next/font/google" not in layout and "Public_Sans(" not in layout
    assert "const publicSans = { variable: '' };" in layout
    assert "import localFont from 'next/font/local';" in layout
    route = (out / "app" / "api" / "token" / "route.ts").read_text()
    assert "!== 'development' && !process.env.WEBCALL_BENCH) {" in route
    assert (source / "app" / "layout.tsx").read_text() == LAYOUT  # the checkout is left as it was
    assert not (out / "node_modules").exists()


@pytest.mark.parametrize(
    ("layout", "route", "named"),
    [
        (LAYOUT.replace("Public_Sans", "Inter"), ROUTE, "layout.tsx"),
        (LAYOUT, ROUTE.replace("'development'", "'dev'"), "route.ts"),
    ],
)
def test_a_starter_that_changed_is_refused_by_name(
    tmp_path: Path, layout: str, route: str, named: str
) -> None:
    source = a_checkout(tmp_path / "src", layout, route)
    with pytest.raises(RuntimeError, match=named):
        starter.prepare(source, tmp_path / "out")


def test_the_starter_is_timed_only_when_a_checkout_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(starter.ENV, raising=False)
    assert starter.checkout() is None
    monkeypatch.setenv(starter.ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="not a checkout of livekit-examples/agent-starter-react"):
        starter.checkout()
    monkeypatch.setenv(starter.ENV, str(a_checkout(tmp_path / "src")))
    assert starter.checkout() == (tmp_path / "src").resolve()


def calls(connected: float, sending: float) -> list[dict[str, float]]:
    return [{"click": 10.0, "pc-connected": 10 + connected, "mic-sending": 10 + sending}] * 3


def test_the_rows_compare_ours_with_the_starter_timed_beside_it() -> None:
    timed = {name: calls(100, 200) for name in floor.VARIANTS}
    timed["ours"] = calls(90, 210)
    timed[floor.STARTER] = calls(120, 200)
    rows = {row.measure: row for row in floor.rows_for(50, timed)}
    connected = rows["50 ms RTT: peer connected, ours / agent-starter-react, same run"]
    assert (connected.value, connected.met) == ("0.75", True)
    sending = rows["50 ms RTT: microphone sending, ours / agent-starter-react, same run"]
    assert (sending.value, sending.met) == ("1.05", False)
    assert "starter 120" in rows["50 ms RTT: click → peer connected, median ms"].value
    assert rows["50 ms RTT: rounds measured"].value == "12 (+1), 6 pages each"
    timed["ours-instant"] = calls(130, 220)  # clicked in no time: no press to ask at
    rows = {row.measure: row for row in floor.rows_for(50, timed)}
    assert rows["50 ms RTT: peer connected, ours clicked in no time / bare SDK"].value == "1.30"


def test_without_the_starter_the_rows_say_nothing_of_it() -> None:
    rows = floor.rows_for(0, {name: calls(100, 200) for name in floor.VARIANTS})
    assert not [row for row in rows if "starter" in row.value or "same run" in row.measure]
    assert rows[-1].value == "12 (+1), 5 pages each"

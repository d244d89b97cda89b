"""Our page's modules run by Node as the page runs them (those that need no browser)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.processes import ROOT


def module_uri(path: str) -> str:
    """The file URL of ``path`` (from the repository's root), for an ``import`` in a script."""
    return (ROOT / path).as_uri()


def run_module_script(script: str) -> str:
    """Run ``script`` (an ES module's text) with Node; what it printed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH (scripts/bootstrap needs it)")
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout

"""Runs one of the Node.js browser scripts and relays its result lines into a harness Runner.

The script prints ``ok - name`` or ``FAIL - name: details`` per check and, last,
``N passed, M failed``; anything else is printed as a ``#`` comment. Shared by run.py (the
embed and the owner's page) and moderate.py (the admin page).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import harness

NODE_TIMEOUT_S = 180


def run_node_checks(runner: harness.Runner, script: Path, args: dict,
                    timeout_s: float = NODE_TIMEOUT_S) -> None:
    """``node script '<args as JSON>'``; counts its ok/FAIL lines into ``runner``."""
    name = f"browser checks (node tests/browser/{script.name}) run to the end"
    try:
        proc = subprocess.Popen(["node", str(script), json.dumps(args, ensure_ascii=False)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                                errors="replace")
    except OSError as e:
        runner._fail(name, f"cannot start node: {e}")
        return
    summary = None
    assert proc.stdout is not None
    started = time.monotonic()
    for line in proc.stdout:
        line = line.rstrip("\n")
        if line.startswith("ok - "):
            runner.passed += 1
        elif line.startswith("FAIL - "):
            runner.failed += 1
        elif re.fullmatch(r"\d+ passed, \d+ failed", line):
            summary = line
            continue  # the combined summary is printed by harness.main
        elif line and not line.startswith("#"):
            line = "# " + line
        print(line, flush=True)
        if time.monotonic() - started > timeout_s:
            break
    try:
        code = proc.wait(timeout=max(1, timeout_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    # The script exits 1 when a check failed (already counted above); anything else, or no
    # summary line, means it did not run to the end.
    if summary is None or code not in (0, 1):
        runner._fail(name, f"node exited with {code}, summary line {summary!r} (is playwright-core "
                           "installed? cd tests/browser && npm ci)")

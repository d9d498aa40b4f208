"""bench/pages.py still runs (tiny N), so the benchmark cannot rot. It runs as its own process: it
builds its own app and database and must not disturb the suite's."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pages_bench_runs_with_tiny_n():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BENCH_DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "bench/pages.py", "--members", "5", "--orgs", "3", "--requests", "3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "members page (5 members" in result.stdout and "workspaces page (3 orgs)" in result.stdout
    assert result.stdout.count("baseline: same SELECTs as JSON") == 2
    assert result.stdout.count("page / baseline") == 2

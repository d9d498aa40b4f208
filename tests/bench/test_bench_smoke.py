"""bench/pages.py still runs (tiny N), so the benchmark cannot rot. It runs as its own process: it
builds its own app and database and must not disturb the suite's."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_load_bench_runs_for_a_few_seconds(tmp_path):
    """bench/load.py starts gunicorn and a worker, drives the mix and the /healthz baseline, and stops
    them (tiny: SQLite, one web process, a few seconds at 10 req/s)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BENCH_DATABASE_URL")}
    env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--rate", "10", "--duration", "2", "--baseline-duration", "1", "--members", "5",
         "--workers", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for kind in ("page view", "htmx fragment", "scim", "api", "baseline: GET /healthz"):
        assert kind in result.stdout
    assert "webhooks delivered for the run's" in result.stdout
    assert "CPU per mix request:" in result.stdout and "would fill" in result.stdout

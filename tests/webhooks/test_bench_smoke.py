"""bench/webhooks.py still runs end to end (tiny N), so the benchmark cannot rot."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_webhook_bench_runs_with_tiny_n():
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-bench-smoke-')}/bench.db")
    result = subprocess.run(
        [sys.executable, "bench/webhooks.py", "--events", "10", "--endpoints", "1", "--workers", "1",
         "--latency-events", "3", "--latency-rate", "20", "--timeout", "60"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raw signed-POST loop" in result.stdout and "1 worker process" in result.stdout
    assert "deliveries/s" in result.stdout and "commit-to-receipt p50" in result.stdout

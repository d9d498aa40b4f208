"""bench/notifications.py still runs (tiny N, its own throwaway SQLite database), so it cannot rot."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_notifications_bench_runs_with_a_tiny_n(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.db'}"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "notifications.py"), "--notifications", "300", "--unread", "30",
         "--members", "25", "--requests", "10", "--repeat", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "/app/notifications/badge" in result.stdout and "baseline bare COUNT route" in result.stdout
    assert "emit() -> fan_out" in result.stdout and "baseline raw bulk INSERT" in result.stdout

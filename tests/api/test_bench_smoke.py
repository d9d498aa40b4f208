"""bench/api.py still runs (tiny N, its own scratch SQLite file, in a subprocess so it never touches
the suite's database)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_api_bench_runs_with_a_tiny_org():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BENCH_DATABASE_URL", "ORGKIT_BENCH_API_DB")}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "api.py"), "--members", "5", "--requests", "3", "--rounds", "1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GET /api/v1/members (API key)" in result.stdout and "baseline: same query, no auth" in result.stdout
    assert "API / baseline:" in result.stdout

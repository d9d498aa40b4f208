"""bench/scim.py still runs (tiny N, its own scratch SQLite file, in a subprocess so it never touches
the suite's database), with scim2-server beside it as the peer."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scim_bench_runs_with_a_tiny_org(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.db'}"}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "scim.py"), "--users", "120", "--requests", "3"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    for case, target in (("filter userName eq", "1.5x"), ("page of 100 at the end", "10x"), ("POST /Users", "0.3x")):
        assert any(line.startswith(case) and line.rstrip().endswith(f"x (>= {target})") for line in lines), result.stdout

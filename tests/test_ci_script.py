""".ci/run installs what README.md says a fresh machine needs, and fails a run that dirties the tree."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CI = (ROOT / ".ci" / "run").read_text()
README = (ROOT / "README.md").read_text()
APT_INSTALL = re.compile(r"apt-get install -y (?:-qq )?([a-z0-9][a-z0-9 .+-]*?)\s*(?:>/dev/null)?$", re.M)


def packages(text):
    return set(APT_INSTALL.search(text).group(1).split())


def test_ci_installs_exactly_what_the_readme_lists():
    assert packages(CI) == packages(README)
    # What the suite itself starts or calls: browser tests, the SAML test IdP, the fault tests' own
    # redis-server and PostgreSQL cluster, and make and git for the Makefile and .gitignore checks.
    assert {"chromium", "xmlsec1", "redis-server", "postgresql", "make", "git"} <= packages(CI)


def tree_check():
    """The end of .ci/run: after `make test`, the check that git sees no change."""
    assert CI.index("make test") < CI.index('changes="$(git status --porcelain)"')
    return CI[CI.index('changes="$(git status --porcelain)"'):]


def test_the_tree_check_fails_a_dirty_tree_and_passes_a_clean_one(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    check = tree_check()
    clean = subprocess.run(["bash", "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert clean.returncode == 0, clean.stdout
    (tmp_path / "left-behind.png").write_bytes(b"png")
    dirty = subprocess.run(["bash", "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert dirty.returncode == 1 and "left-behind.png" in dirty.stdout

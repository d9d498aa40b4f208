"""docs/deploy.md and docs/security.md name only settings and files that exist."""
import re
from pathlib import Path

import pytest

from config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# Read by gunicorn.conf.py / the Makefile / Flask-Limiter, not by config.py; and signal names.
OTHER_VARIABLES = {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS",
                   "WORKERS", "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", "SIGHUP", "SIGKILL", "SIGTERM"}


@pytest.mark.parametrize("doc", ["docs/deploy.md", "docs/security.md"])
def test_docs_name_real_settings_and_files(doc):
    text = (ROOT / doc).read_text()
    settings = {name for name, _, _ in SETTINGS}
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`", text))
    unknown = named - settings - OTHER_VARIABLES
    assert unknown == set(), f"{doc} names settings that config.py does not have: {unknown}"
    files = set(re.findall(r"`((?:services|blueprints|models|jobs|tests|migrations)/[\w/.]+\.py)", text))
    files |= set(re.findall(r"`([a-z_]+\.py)`", text))
    missing = {f for f in files if not (ROOT / f).exists()}
    assert missing == set(), f"{doc} names files that do not exist: {missing}"

"""The blocklist of commonly used passwords (NIST SP 800-63B section 5.1.1.2), loaded once."""
from functools import lru_cache
from pathlib import Path

_LIST = Path(__file__).with_name("data") / "common_passwords.txt"


@lru_cache(maxsize=1)
def _common():
    with _LIST.open(encoding="utf-8") as f:
        return frozenset(line.rstrip("\n").lower() for line in f if line.strip() and not line.startswith("#"))


def is_common(password):
    return password.lower() in _common()

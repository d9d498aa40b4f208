"""Where a person may be sent after login or an action: a local path only, never another site (open
redirect). Domain code (the SAML RelayState check) and the web layer both ask here."""
from urllib.parse import urlsplit


def safe_next_url(target):
    """A local path to go to after login, or None: never another site (open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target

"""The one check for names people give things (their own name, a workspace, an API key): one line of
visible text. Every form and the JSON API reach it through the service that stores the name.

Control characters are refused, not stripped: a line break in a name forges extra lines in logs and
headers (an email subject cannot carry one, so the email could never be sent), and the bidirectional
overrides make a name display as something else (CVE-2021-42574, "Trojan Source").
"""
import unicodedata

from services import ServiceError

# C0 and C1 controls (Cc: tab, CR, LF, NUL, ESC ...), the line and paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = {"Cc", "Zl", "Zp"}
# Unicode bidirectional embeddings, overrides and isolates (Unicode Standard Annex 9).
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _describe(character):
    name = {"\n": "line break", "\r": "carriage return", "\t": "tab"}.get(character) \
        or unicodedata.name(character, "control character").lower()
    return f"{name} (U+{ord(character):04X})"


def refuse_control_characters(value, field="name"):
    """ServiceError naming the first control character in value, if it has one."""
    for character in value or "":
        if unicodedata.category(character) in _REFUSED_CATEGORIES or character in _BIDI_CONTROLS:
            raise ServiceError(f"Remove the {_describe(character)}: a name is one line of visible text, "
                               "without line breaks, tabs or other control characters.", field=field)
    return value


def clean_name(value, max_length, required_message, field="name"):
    """value stripped of surrounding spaces; ServiceError (for field) if empty, too long, or holding a
    control character."""
    name = (value or "").strip()
    if not name:
        raise ServiceError(required_message, field=field)
    if len(name) > max_length:
        raise ServiceError(f"Use at most {max_length} characters.", field=field)
    return refuse_control_characters(name, field)

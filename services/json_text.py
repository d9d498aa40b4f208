"""Text in a parsed JSON body that no column can hold, found before anything stores or logs it."""
import re

# JSON may escape a lone UTF-16 surrogate ("\ud800", RFC 8259 section 8.2 leaves it undefined): Python
# decodes it to a str that cannot be encoded as UTF-8, so PostgreSQL, SQLite and every log line refuse it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable_text(value):
    """Why a string in this decoded JSON value cannot be stored (a NUL character or a lone surrogate), or
    None when every key and string can be. Walks without recursion: the caller bounds the depth."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character (\\u0000), which is not allowed"
            if _SURROGATE.search(item):
                return "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode text"
    return None

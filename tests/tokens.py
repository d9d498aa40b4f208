"""Tampering with signed tokens in a way that always breaks them."""


def tampered(token):
    """`token` (or a path ending in one) with one character changed where every bit counts.

    itsdangerous signatures are unpadded base64url: the last character of a 20-byte HMAC carries
    only four bits, so rewriting the last characters hands back the same signature about once in a
    thousand runs (it did, in CI). The first character after the last "." or "/" always carries six
    bits, so changing it always changes the token.
    """
    cut = max(token.rfind("."), token.rfind("/")) + 1
    swapped = "B" if token[cut] == "A" else "A"
    return token[:cut] + swapped + token[cut + 1:]

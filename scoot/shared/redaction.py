"""Secret redaction: a secret and its common encodings replaced by one marker.

Stdlib only: the worker redacts what it sends, the parent what it stores.
Redaction must run before any clipping, so a secret cut at a clip edge is
never stored minus a character.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote, quote_plus

MARK = "[redacted]"
# Shorter secrets (or encoded fragments) would redact ordinary text.
MIN_SECRET_CHARS = 4
MIN_FRAGMENT_CHARS = 8


def _base64_cores(data: bytes) -> list[str]:
    """The base64 text of `data` at each of the three alignments, without its edge characters.

    Encoded inside a longer byte string, `data` starting at offset k (mod 3)
    always yields the same characters apart from the first and last one or
    two, which mix in the neighbouring bytes; those cores are what to find.
    """
    cores: list[str] = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii").rstrip("=")
        start = -(-8 * offset // 6)  # ceil: the first character made of `data` bits only
        end = 8 * (offset + len(data)) // 6  # floor: past the last such character
        core = encoded[start:end]
        if len(core) >= MIN_FRAGMENT_CHARS:
            cores.append(core)
    return cores


def secret_forms(secret: str) -> list[str]:
    """`secret` and the encodings a tool might print it in, longest first.

    Base64 (standard and URL-safe, any alignment), hex (lower and upper
    case) and URL-encoding (percent and form).
    """
    if len(secret) < MIN_SECRET_CHARS:
        return []
    data = secret.encode("utf-8", "surrogatepass")
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    hex_text = binascii.hexlify(data).decode("ascii")
    forms |= {hex_text, hex_text.upper()}
    for core in _base64_cores(data):
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return sorted(forms, key=len, reverse=True)


def redact(text: str, forms: list[str]) -> str:
    """`text` with every occurrence of each form replaced by MARK."""
    for form in forms:
        if form in text:
            text = text.replace(form, MARK)
    return text

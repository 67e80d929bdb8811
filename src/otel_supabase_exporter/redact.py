"""Secrets out of every message, by structure: wherever a text holds a connection string, its
password is replaced by ``****`` and everything else is kept verbatim.

Never by substring: replacing every occurrence of a known password garbles messages and shows where
its letters are (a one-letter password). Instead the text is read for the two shapes of a DSN,
malformed ones too (a mistyped scheme, a missing ``=``):

- URI: after ``scheme://user:``, whatever follows up to the last ``@`` of that word;
- key=value (also a URI's query): the value after ``password=``, quoted (``'...'``, with ``\\'``
  escapes) or up to the next space (in a URI query, up to ``&``).
"""

from __future__ import annotations

import re

__all__ = ["MASK", "error_line", "mask_dsn", "mask_secrets"]

MASK = "****"

# scheme://user:PASSWORD@host... — the password runs to the last "@" before the word ends
_URI_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)(?P<secret>\S*)@")
# password=VALUE in key=value form, or ?password= / &password= in a URI's query
_KEYWORD = re.compile(
    r"(?P<head>(?P<sep>[?&])?\b(?:ssl)?password\s*=\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*(?:'|$)|(?(sep)[^\s&]*|\S*))",
    re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """The text with the password of every connection string in it masked, the rest unchanged."""
    text = _URI_USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    return _KEYWORD.sub(lambda m: m["head"] + (MASK if m["secret"] else ""), text)


def mask_dsn(dsn: str | None) -> str:
    """The DSN as given, with its password replaced by ****, for logs and messages."""
    if not dsn:
        return "<embedded>"
    return mask_secrets(dsn)


def error_line(exc: BaseException, dsn: str | None = None) -> str:
    """The first line of an error's message (or its type), with any DSN's password masked.

    ``dsn`` is accepted for the callers' sake; the masking does not depend on it."""
    message = str(exc).strip()
    return mask_secrets(message.splitlines()[0] if message else type(exc).__name__)

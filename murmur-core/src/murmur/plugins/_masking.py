"""Secrets out of text: URI passwords, ``password=...`` parameters and known secret values.

Standard library only: plugin errors are masked on the start-up path of ``murmur plugins list``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["MASK", "mask_secrets"]

MASK = "****"

_URI_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,2}[^\s:/@]*:)([^\s@/]+)(@)")
_PARAM_SECRET = re.compile(r"(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)=)([^&\s,;]+)")


def mask_secrets(text: str, secrets: Mapping[str, None] | None = None) -> str:
    """``text`` with URI passwords, ``password=...``-style parameters and the given secret values masked."""
    text = _URI_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
    text = _PARAM_SECRET.sub(rf"\g<1>{MASK}", text)
    for secret in secrets or ():
        if secret:
            text = text.replace(secret, MASK)
    return text

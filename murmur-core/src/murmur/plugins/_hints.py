"""Help for a name that is not there: a near miss (``Mongo`` ⇒ ``mongo``) or the package to install."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PROVIDERS", "suggest"]

#: Adapters of the project's own distributions: an unknown name here says what to install.
PROVIDERS: dict[tuple[str, str], str] = {
    ("source", "mongo"): "murmur-mongo",
    ("live", "mongo-changes"): "murmur-mongo",
    ("live", "kafka"): "murmur-kafka",
    ("decoder", "json"): "murmur-kafka",
    ("decoder", "debezium"): "murmur-kafka",
    ("decoder", "raw"): "murmur-kafka",
    ("store", "dynamodb"): "murmur-dynamodb",
    ("dedup", "dynamodb"): "murmur-dynamodb",
    ("source", "dynamodb"): "murmur-dynamodb",
}


def suggest(name: str, names: Iterable[str], *, kind: str | None = None) -> str:
    """``"did you mean mongo?"``, ``"it comes with murmur-mongo: pip install murmur-mongo"``, or ``""``."""
    choices = sorted(set(names))
    folded = {c.lower(): c for c in choices}
    if name.lower() in folded and folded[name.lower()] != name:
        return f"did you mean {folded[name.lower()]}?"
    wanted = name.strip().lower()
    for (provided_kind, provided), distribution in PROVIDERS.items():
        if provided == wanted and (kind is None or kind == provided_kind) and provided not in choices:
            return f"it comes with {distribution}: pip install {distribution}"
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6) or difflib.get_close_matches(
        name.lower(), list(folded), n=1, cutoff=0.6
    )
    if close:
        return f"did you mean {folded.get(close[0], close[0])}?"
    return ""

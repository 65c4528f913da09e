"""Placeholder: the monoid law checker (issue 4) lands here."""

from __future__ import annotations

from typing import Any


def check_monoid_laws(monoid: Any, strategy: Any, **kwargs: Any) -> None:
    raise NotImplementedError("check_monoid_laws lands with issue 4")

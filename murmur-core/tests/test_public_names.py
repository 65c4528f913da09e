"""The public surface is pinned: each package's ``__all__`` is exactly the list murmur-core's
README documents under "Public names", and every name there imports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PACKAGES = ["murmur", "murmur.testing", "murmur_mongo", "murmur_kafka", "murmur_dynamodb"]


def documented() -> dict[str, list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Public names\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, list[str]] = {}
    for item in re.split(r"\n- ", "\n" + section)[1:]:
        match = re.match(r"\*\*`([\w.]+)`\*\*: (.*)", item, re.S)
        assert match, f"not a 'package: names' line: {item[:60]!r}"
        out[match.group(1)] = re.findall(r"`([\w.]+)`", match.group(2))
    return out


def test_the_readme_documents_each_package_once() -> None:
    assert list(documented()) == PACKAGES


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_the_documented_list(package: str) -> None:
    module = pytest.importorskip(package) if package.startswith("murmur_") else importlib.import_module(package)
    names = documented()[package]
    assert len(names) == len(set(names)), f"{package}: a name is listed twice"
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{package}.__all__ lists a name twice"
    missing, extra = sorted(set(exported) - set(names)), sorted(set(names) - set(exported))
    assert not missing and not extra, (
        f"{package}: __all__ and murmur-core/README.md differ; undocumented: {missing}, documented but not "
        f"exported: {extra}"
    )
    for name in names:
        assert getattr(module, name, None) is not None or name == "__version__", f"{package}.{name} does not import"

"""The shipped real Ariel files are the published ones (sha256 digests in resources/ariel/README.md)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ARIEL = Path(__file__).resolve().parents[1] / "resources" / "ariel"
_DIGEST_LINE = re.compile(r"^([0-9a-f]{64})  (\S+)$", re.MULTILINE)
# README.md lists 20 files (18 of 2025, 2 of 2024): a parse that finds fewer lost some lines
N_LISTED = 20


def _listed() -> dict[str, str]:
    text = (ARIEL / "README.md").read_text(encoding="utf-8")
    return {path: digest for digest, path in _DIGEST_LINE.findall(text)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_readme_lists_every_digest():
    assert len(_listed()) == N_LISTED


def test_every_real_file_is_listed():
    """No unlisted (unverified) file hides in the real-data folders."""
    on_disk = {
        p.relative_to(ARIEL).as_posix()
        for d in ("2024", "2025")
        for p in (ARIEL / d).rglob("*")
        if p.is_file()
    }
    assert on_disk == set(_listed())


@pytest.mark.parametrize(("path", "digest"), sorted(_listed().items()))
def test_sha256_matches(path: str, digest: str):
    assert _sha256(ARIEL / path) == digest

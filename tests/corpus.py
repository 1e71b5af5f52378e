"""The real-world mail corpus beside the checkout (``../shared/corpus``)."""

from __future__ import annotations

from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
FLANKER_DIR = CORPUS_DIR / "flanker"


def flanker_files() -> list[Path]:
    files = sorted(FLANKER_DIR.rglob("*.eml"))
    if len(files) < 40:
        raise RuntimeError(f"expected the flanker corpus (48 messages) in {FLANKER_DIR}, found {len(files)}")
    return files

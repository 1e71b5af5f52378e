"""The sandbox's outbox, read back: what was "sent", with the headers a developer checks."""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import getaddresses
from pathlib import Path

HEADERS = ("Date", "From", "Sender", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References")


@dataclass(frozen=True)
class OutboxEntry:
    name: str  # the file name: also its id in the dev page's URL
    size: int
    sent_at: float  # file time (seconds since the epoch)
    headers: dict[str, str]

    @property
    def from_address(self) -> str:
        addresses = getaddresses([self.headers.get("From", "")])
        return addresses[0][1].lower() if addresses else ""


def read_entry(path: Path) -> OutboxEntry:
    with path.open("rb") as handle:
        parsed = BytesHeaderParser(policy=default).parse(handle)
    headers = {name: str(parsed[name]) for name in HEADERS if parsed[name] is not None}
    stat = path.stat()
    return OutboxEntry(name=path.name, size=stat.st_size, sent_at=stat.st_mtime, headers=headers)


def list_outbox(directory: Path, *, limit: int = 200) -> list[OutboxEntry]:
    """The newest ``limit`` messages, newest first."""
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    return [read_entry(path) for path in paths]


def entry_path(directory: Path, name: str) -> Path | None:
    """The file for ``name`` if it is one of the outbox's own messages (no path tricks)."""
    if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".eml"):
        return None
    path = directory / name
    return path if path.is_file() else None

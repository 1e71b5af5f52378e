"""The sandbox's stand-in for S3: one file per key under a directory, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mailroom.storage.base import BlobNotFoundError
from mailroom.usage import record_s3


class LocalStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid storage key {key!r}")
        return path

    def get(self, key: str) -> bytes:
        record_s3("GetObject")
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFoundError(key) from exc

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        record_s3("PutObject", bytes_written=len(data))
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a reader sees the whole object or none, as with S3.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        record_s3("HeadObject")
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        record_s3("DeleteObject")
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        record_s3("ListObjectsV2")
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

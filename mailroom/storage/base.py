"""The small storage interface that S3 and the local directory both implement."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlparse


class BlobNotFoundError(KeyError):
    """No object under that key."""


class BlobStore(Protocol):
    def get(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> list[str]: ...


def open_store(url: str) -> BlobStore:
    """``s3://bucket/prefix`` or ``file:///absolute/dir``."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from mailroom.storage.s3 import S3Store

        return S3Store(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"))
    if parsed.scheme == "file":
        from mailroom.storage.local import LocalStore

        return LocalStore(parsed.path)
    raise ValueError(f"unsupported raw store URL {url!r}: use s3://bucket/prefix or file:///dir")

"""The raw store: raw mail, attachments and large bodies. S3 on AWS, a directory in the sandbox."""

from mailroom.storage.base import BlobNotFoundError, BlobStore, open_store

__all__ = ["BlobNotFoundError", "BlobStore", "open_store"]

"""The raw store on AWS: an S3 bucket (the one the SES receipt rule writes to)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from mailroom.storage.base import BlobNotFoundError
from mailroom.usage import record_s3


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client or boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def get(self, key: str) -> bytes:
        record_s3("GetObject")
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise BlobNotFoundError(key) from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        record_s3("PutObject", bytes_written=len(data))
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def exists(self, key: str) -> bool:
        record_s3("HeadObject")
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        record_s3("DeleteObject")
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> list[str]:
        record_s3("ListObjectsV2")
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys += [obj["Key"][len(self.prefix) :] for obj in page.get("Contents", [])]
        return keys

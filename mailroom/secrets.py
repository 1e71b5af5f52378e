"""Secrets Manager, read once per Lambda container (the adapter for the session secret)."""

from __future__ import annotations

from functools import lru_cache

import boto3


@lru_cache(maxsize=8)
def secret_string(arn: str, region: str) -> str:
    """The secret's current value. Cached for the container's life: a rotated secret takes effect
    on new containers (rotation signs everyone out, so it is a deliberate act anyway)."""
    client = boto3.client("secretsmanager", region_name=region)
    value = client.get_secret_value(SecretId=arn).get("SecretString")
    if not isinstance(value, str):
        raise RuntimeError(f"secret {arn} has no string value")
    return value

"""Where photo files live: a registry of back ends keyed by the STORAGE setting.

`local` (the default) keeps files under PHOTO_DIR in the instance folder;
`s3` keeps them in an S3-compatible bucket (AWS, MinIO, Ceph...). Files are
named by content, so a write of the same key is always the same bytes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app


class Storage(Protocol):
    """The three operations photos need."""

    def put(self, key: str, data: bytes, media_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def probe(self) -> None:
        """Raise unless files can be written here (what /health/ready checks)."""


class LocalStorage:
    """Files in a folder; each written aside and renamed into place."""

    def __init__(self, root: str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the folder: {key!r}")
        return path

    def put(self, key: str, data: bytes, media_type: str) -> None:
        path = self._path(key)
        if path.exists():
            return  # named by content: already there
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def probe(self) -> None:
        """Raise OSError unless the folder exists (or can be made) and takes a new file."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f".ready-{secrets.token_hex(6)}"
        probe.write_bytes(b"")
        probe.unlink()


class S3Storage:
    """Objects in an S3-compatible bucket (boto3)."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str, region: str):
        """Reach the bucket at the endpoint and in the region given (empty: boto3's own)."""
        # Imported here, not at the top: only STORAGE=s3 loads boto3.
        import boto3

        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None,
                                   region_name=region or None)

    def put(self, key: str, data: bytes, media_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data,
                               ContentType=media_type)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def exists(self, key: str) -> bool:
        # Imported here, not at the top: only STORAGE=s3 loads botocore.
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def probe(self) -> None:
        """Raise unless the bucket answers (a HEAD; nothing is written)."""
        self.client.head_bucket(Bucket=self.bucket)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (for set-up and tests)."""
        # Imported here, not at the top: only STORAGE=s3 loads botocore.
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


def _local(app: Flask) -> Storage:
    return LocalStorage(app.config["PHOTO_DIR"])


def _s3(app: Flask) -> Storage:
    config = app.config
    if not config["S3_BUCKET"]:
        raise RuntimeError("STORAGE=s3 needs S3_BUCKET")
    return S3Storage(config["S3_BUCKET"], config["S3_PREFIX"], config["S3_ENDPOINT_URL"],
                     config["S3_REGION"])


BACKENDS = {"local": _local, "s3": _s3}


def storage() -> Storage:
    """Return the app's photo storage, built once from its STORAGE setting."""
    app = current_app._get_current_object()
    backend = app.extensions.get("prefabtrace.storage")
    if backend is None:
        name = app.config["STORAGE"]
        if name not in BACKENDS:
            raise RuntimeError(f"STORAGE is one of {', '.join(BACKENDS)}, not {name!r}")
        backend = app.extensions["prefabtrace.storage"] = BACKENDS[name](app)
    return backend

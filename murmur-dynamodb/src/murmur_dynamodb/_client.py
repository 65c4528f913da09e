"""Making the boto3 client: credentials and region from boto3's standard chain.

The region is the option, else boto3's chain ($AWS_DEFAULT_REGION, ~/.aws/config), else $AWS_REGION.

boto3 is imported here, when an adapter is built, never at plugin registration (so
``murmur --help`` stays fast). botocore does not retry (one attempt per call): Murmur's one
retry policy (``--retry-for``) rides out every transient failure.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from murmur import ConfigError

from murmur_dynamodb._errors import translate

T = TypeVar("T")
R = TypeVar("R")

#: Attempts botocore makes per call (the first included) before the runtime's policy takes over.
BOTOCORE_ATTEMPTS = 1


@dataclass(frozen=True)
class Connection:
    """Where the tables live. ``None`` means "whatever boto3's standard chain says"."""

    endpoint_url: str | None = None
    region: str | None = None
    max_pool_connections: int = 16
    #: How messages name the region and endpoint settings: adapter options, or a command's flags.
    region_flag: str = "the region option (e.g. -T region=us-east-1)"
    endpoint_flag: str = "endpoint_url"

    def client(self, what: str) -> Any:
        """A thread-safe low-level DynamoDB client (a fresh boto3 session: sessions are not thread-safe)."""
        if self.max_pool_connections < 1:
            raise ConfigError(f"{what}: max_pool_connections must be at least 1", option="max_pool_connections")
        import boto3  # type: ignore[import-untyped, unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

        config = Config(
            retries={"mode": "standard", "total_max_attempts": BOTOCORE_ATTEMPTS},
            max_pool_connections=self.max_pool_connections,
            connect_timeout=5,
            read_timeout=60,
            user_agent_extra="murmur-dynamodb",
        )
        session = boto3.session.Session()
        # The option, else boto3's chain, else $AWS_REGION (what other AWS SDKs and Lambda use).
        region = self.region or session.region_name or os.environ.get("AWS_REGION")
        if not region:
            raise ConfigError(
                f"{what}: no AWS region: give {self.region_flag}, or set AWS_DEFAULT_REGION or AWS_REGION",
                option="region",
            )
        if session.get_credentials() is None:
            raise ConfigError(f"{what}: {missing_credentials(self.endpoint_url)}", option="credentials")
        try:
            return session.client("dynamodb", endpoint_url=self.endpoint_url or None, region_name=region, config=config)
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."
            raise ConfigError(
                f"{what}: {self.endpoint_flag} {self.endpoint_url!r}: {exc}", option="endpoint_url"
            ) from None
        except Exception as exc:
            new = translate(exc, what, ConfigError)
            if new is exc:
                raise
            raise new from exc


def missing_credentials(endpoint_url: str | None) -> str:
    """What to do when boto3's chain found no credentials (for a local endpoint: any dummy values)."""
    text = (
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with"
        " ~/.aws/credentials, or run with an instance role)"
    )
    if endpoint_url and re.search(r"//(localhost|127\.|\[::1\]|0\.0\.0\.0|host\.docker\.internal)", endpoint_url):
        text += (
            f"; {endpoint_url} is a local endpoint, which still needs credentials to sign requests:"
            " any dummy values do, e.g. AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy"
        )
    return text


def where(client: Any) -> tuple[str, str]:
    """The endpoint and region a client actually talks to, for "same database?" checks."""
    return (str(client.meta.endpoint_url).rstrip("/"), str(client.meta.region_name))


class Workers:
    """A lazily started thread pool for the independent calls of one operation (key writes, claims).

    ``map(fn, items)`` runs every call, waits for all of them, then raises the first failure, so
    no call is left running behind the caller's back.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=self.name)
            pool = self._pool
        futures = [pool.submit(fn, item) for item in items]
        wait(futures)
        return [f.result() for f in futures]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def close_client(client: Any) -> None:
    close = getattr(client, "close", None)  # botocore >= 1.33
    if close is not None:
        close()

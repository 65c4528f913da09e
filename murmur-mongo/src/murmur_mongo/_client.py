"""Connecting, and turning pymongo's exceptions into Murmur's families (SPEC §4.8).

Network failures, timeouts and errors MongoDB labels retryable become ``TransientError``;
the change-stream codes that mean "this resume token cannot be used" become ``HandoffError``
with the remedy. pymongo's exception is kept as ``__cause__``. Messages never carry the URI's
password.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import unquote

from murmur import ConfigError, HandoffError, MurmurError, SourceError, TransientError

if TYPE_CHECKING:
    from bson.raw_bson import RawBSONDocument
    from pymongo import MongoClient
    from pymongo.collection import Collection

__all__ = [
    "CHANGE_STREAMS_UNSUPPORTED",
    "TOKEN_UNUSABLE",
    "Closing",
    "Redactor",
    "Target",
    "connect",
    "retrying",
    "translate",
]

T = TypeVar("T")

#: OperationFailure codes that a retry may clear (MongoDB's retryable read/write error codes).
TRANSIENT_CODES = frozenset(
    {6, 7, 50, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436, 63, 150, 234, 133}
)
#: The resume token is unusable: history lost (286), invalid token (260), fatal stream error (280),
#: or a token from a different stream (BadValue 2 carries "resume token" in its text).
TOKEN_UNUSABLE = frozenset({260, 280, 286})
#: "$changeStream is only supported on replica sets" (40573), stage unknown to an old server (40324).
CHANGE_STREAMS_UNSUPPORTED = frozenset({40573, 40324})

REBOOTSTRAP = (
    "re-bootstrap: run the `mongo` snapshot again with --restart --handoff-out FILE, "
    "then start mongo-changes with --from-handoff FILE"
)


class Redactor:
    """Removes the password (and the whole userinfo) of a URI from texts."""

    def __init__(self, uri: str) -> None:
        secrets: list[str] = []
        match = re.match(r"^[a-z+]+://([^@/]*)@", uri)
        if match:
            userinfo = match.group(1)
            secrets.append(userinfo)
            if ":" in userinfo:
                password = userinfo.split(":", 1)[1]
                secrets.extend([password, unquote(password)])
        self._secrets = [s for s in sorted(set(secrets), key=len, reverse=True) if s]

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


def connect(uri: str, redact: Redactor) -> MongoClient[Any]:
    """A client for ``uri`` (no I/O yet); a malformed URI is a ``ConfigError`` on ``uri``."""
    import pymongo
    from pymongo.errors import ConfigurationError, InvalidURI

    if not uri:
        raise ConfigError("mongo: option 'uri' is required (e.g. -S uri=mongodb://host:27017)", option="uri")
    kwargs: dict[str, Any] = {"uuidRepresentation": "standard", "tz_aware": True, "appname": "murmur"}
    if "serverselectiontimeoutms" not in uri.lower():
        # fail within seconds, not pymongo's 30 s, when the host is wrong
        kwargs["serverSelectionTimeoutMS"] = 10_000
    try:
        return pymongo.MongoClient(uri, **kwargs)
    except (InvalidURI, ConfigurationError, ValueError, TypeError) as exc:
        raise ConfigError(f"mongo: invalid uri: {redact(str(exc))}", option="uri") from None


def translate(exc: BaseException, what: str, redact: Redactor, *, live: bool = False) -> BaseException:
    """The Murmur exception to raise for ``exc`` (itself if it is a Murmur error already).

    ``what`` says what we were doing ("reading orders.items"). With ``live``, unusable resume
    tokens become ``HandoffError`` naming the remedy.
    """
    from pymongo import errors as pe

    if isinstance(exc, MurmurError) or not isinstance(exc, Exception):
        return exc
    text = redact(str(exc))
    if not isinstance(exc, pe.PyMongoError):
        # pymongo lets some failures of a misbehaving server escape raw (a KeyError in the
        # authentication handshake): still say what we were doing.
        return SourceError(f"{what}: {type(exc).__name__}: {text}")
    if isinstance(exc, pe.OperationFailure):
        code = exc.code
        # str() appends the whole server reply ("full error: {...}"): keep the message and code
        text = f"{redact(text.split(', full error:')[0])} (code {code})"
        if code in CHANGE_STREAMS_UNSUPPORTED or "only supported on replica sets" in text:
            return HandoffError(
                f"{what}: the server does not support change streams (they need a replica set or a sharded "
                "cluster), so no handoff token can be taken; run a one-off snapshot with --no-handoff, "
                f"or point uri at a replica set ({text})"
            )
        if live and (code in TOKEN_UNUSABLE or (code == 2 and "resume" in text.lower())):
            return HandoffError(f"{what}: the resume token cannot be used ({text}); {REBOOTSTRAP}")
        labels = ("ResumableChangeStreamError", "RetryableWriteError", "RetryableReadError")
        if code in TRANSIENT_CODES or any(exc.has_error_label(label) for label in labels):
            return TransientError(f"{what}: {text}")
        return SourceError(f"{what}: {text}")
    if isinstance(exc, (pe.ConnectionFailure, pe.NetworkTimeout, pe.ExecutionTimeout)):
        return TransientError(f"{what}: {text}")
    if isinstance(exc, pe.ConfigurationError):
        return ConfigError(f"{what}: {text}", option="uri")
    return SourceError(f"{what}: {text}")


def retrying(
    call: Callable[[], T],
    what: str,
    redact: Redactor,
    *,
    attempts: int = 5,
    base: float = 0.1,
    cap: float = 5.0,
    give_up: type[MurmurError] = SourceError,
    live: bool = False,
) -> T:
    """Run ``call``, retrying transient failures with exponential backoff and full jitter.

    Each call must be safe to repeat (a query, not a half-consumed cursor). Exhausted retries
    raise ``give_up`` with the last failure as cause; permanent failures raise at once.
    """
    from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    def once() -> T:
        try:
            return call()
        except Exception as exc:
            err = translate(exc, what, redact, live=live)
            if err is exc:
                raise
            raise err from exc

    try:
        for attempt in Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=base, max=cap),
            reraise=False,
        ):
            with attempt:
                return once()
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise give_up(f"{last} (gave up after {attempts} attempts)") from last
    raise AssertionError("unreachable")  # pragma: no cover


class Target:
    """The collection a source reads, through its own client (or a given one, left open)."""

    def __init__(
        self, who: str, *, uri: str, database: str, collection: str, batch_size: int, client: MongoClient[Any] | None
    ) -> None:
        from murmur_mongo._codec import RAW

        if not database:
            raise ConfigError(f"{who}: option 'database' is required (-S database=NAME)", option="database")
        if not collection:
            raise ConfigError(f"{who}: option 'collection' is required (-S collection=NAME)", option="collection")
        if batch_size < 1:
            raise ConfigError(f"{who}: batch_size must be at least 1, got {batch_size}", option="batch_size")
        self.namespace = f"{database}.{collection}"
        self.redact = Redactor(uri)
        self._own_client = client is None
        self.client: MongoClient[Any] = client if client is not None else connect(uri, self.redact)
        self.coll: Collection[RawBSONDocument] = self.client[database].get_collection(collection, codec_options=RAW)

    def stream_position(self, what: str) -> dict[str, Any]:
        """``{"resume_token", "namespace"}``: where the collection's change stream is now. The
        stream is opened and closed without reading an event, so every later change is after it."""
        from murmur_mongo._codec import token_to_json

        def open_and_take() -> Any:
            with self.coll.watch(max_await_time_ms=100) as stream:
                return stream.resume_token

        token = retrying(open_and_take, what, self.redact, attempts=3, give_up=HandoffError)
        if token is None:
            raise HandoffError(
                f"{what}: the server opened a change stream but gave no resume token (MongoDB 4.0.7+ needed)"
            )
        return {"resume_token": token_to_json(token), "namespace": self.namespace}

    def close(self) -> None:
        if self._own_client:
            self.client.close()


class Closing:
    """``with Source(...) as src:`` closes the source at the end."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    "DEFAULT_CONNECT_TIMEOUT_MS",
    "DEFAULT_SERVER_SELECTION_TIMEOUT_MS",
    "TOKEN_UNUSABLE",
    "Closing",
    "Redactor",
    "Target",
    "check_names",
    "connect",
    "retrying",
    "translate",
    "with_uri_options",
]

#: Fail within seconds, not pymongo's 30 s (20 s to connect), when the host is wrong or down.
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 5_000
DEFAULT_CONNECT_TIMEOUT_MS = 5_000

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

#: AuthenticationFailed (18).
AUTH_FAILED = frozenset({18})
#: InvalidNamespace (73): the database or collection name is not allowed.
NAME_REJECTED = frozenset({73})

REBOOTSTRAP = (
    "re-bootstrap: run the `mongo` snapshot again with --restart --handoff-out FILE, "
    "then start mongo-changes with --from-handoff FILE"
)


class Redactor:
    """Removes the password (and the whole userinfo) of a URI from texts; knows the URI's hosts and user."""

    def __init__(self, uri: str) -> None:
        secrets: list[str] = []
        self.user: str | None = None
        match = re.match(r"^[a-z+]+://([^@/]*)@", uri)
        if match:
            userinfo = match.group(1)
            secrets.append(userinfo)
            self.user = unquote(userinfo.split(":", 1)[0])
            if ":" in userinfo:
                password = userinfo.split(":", 1)[1]
                secrets.extend([password, unquote(password)])
        self._secrets = [s for s in sorted(set(secrets), key=len, reverse=True) if s]
        hosts = re.match(r"^[a-z+]+://(?:[^@/]*@)?([^/?]*)", uri)
        #: ``host:port[,host:port]`` as the URI names them (for messages).
        self.hosts = hosts.group(1) if hosts and hosts.group(1) else "?"

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


def with_uri_options(uri: str, options: dict[str, Any]) -> str:
    """``uri`` with each of ``options`` added as a URI parameter unless the URI sets it already.

    ``None`` values are skipped. The URI's own parameters win: it is the most specific setting.
    """
    lower = uri.lower()
    extra = [
        f"{name}={value}"
        for name, value in options.items()
        if value is not None and not re.search(rf"[?&]{name.lower()}=", lower)
    ]
    if not extra:
        return uri
    if "?" in uri:
        return uri + ("" if uri.endswith(("?", "&")) else "&") + "&".join(extra)
    # mongodb://host:port/db?... needs the slash before the options when there is no database
    rest = uri.split("://", 1)[-1]
    return uri + ("?" if "/" in rest else "/?") + "&".join(extra)


def connect(uri: str, redact: Redactor) -> MongoClient[Any]:
    """A client for ``uri`` (no I/O yet); a malformed URI is a ``ConfigError`` on ``uri``.

    Unless the URI says otherwise, server selection and connecting each give up after 5 s.
    """
    import pymongo
    from pymongo.errors import ConfigurationError, InvalidURI

    if not uri:
        raise ConfigError("mongo: option 'uri' is required (e.g. -S uri=mongodb://host:27017)", option="uri")
    kwargs: dict[str, Any] = {"uuidRepresentation": "standard", "tz_aware": True, "appname": "murmur"}
    if "serverselectiontimeoutms" not in uri.lower():
        kwargs["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_TIMEOUT_MS
    if "connecttimeoutms" not in uri.lower():
        kwargs["connectTimeoutMS"] = DEFAULT_CONNECT_TIMEOUT_MS
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
        if redact.user is not None and _in_authentication(exc):
            # pymongo lets a server that does not speak the authentication handshake fail raw
            # (KeyError: 'payload'): what the user can act on is the credentials in the URI.
            return ConfigError(
                f"{what}: authentication as {redact.user!r} failed at {redact.hosts}: the server did not complete"
                f" the handshake ({type(exc).__name__}: {text}); check the user and password in -S uri"
                " (or $MURMUR_MONGO_URI), or drop them if the server has no authentication",
                option="uri",
            )
        # Some other failure pymongo let escape raw: still say what we were doing.
        return SourceError(f"{what}: {type(exc).__name__}: {text}")
    if isinstance(exc, pe.ServerSelectionTimeoutError):
        # pymongo waited the whole server selection timeout already: retrying the same wait
        # only delays the answer. Live sources keep retrying after a failover (transient).
        message = f"{what}: {_unreachable(text, redact)}"
        return TransientError(message) if live else SourceError(message)
    if isinstance(exc, pe.InvalidName):
        return ConfigError(f"{what}: {text} (see -S database / -S collection)", option="collection")
    if isinstance(exc, pe.OperationFailure):
        code = exc.code
        # str() appends the whole server reply ("full error: {...}"): keep the message and code
        text = f"{redact(text.split(', full error:')[0])} (code {code})"
        if code in AUTH_FAILED or "authentication failed" in text.lower():
            return ConfigError(
                f"{what}: authentication as {redact.user or '(no user)'!r} failed at {redact.hosts} ({text});"
                " check the user, password and authSource in -S uri (or $MURMUR_MONGO_URI)",
                option="uri",
            )
        if code in NAME_REJECTED or _name_rejected(text):
            return ConfigError(
                f"{what}: the server rejects the database or collection name ({text}); see -S database and"
                " -S collection",
                option="collection",
            )
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


def _in_authentication(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside pymongo's authentication code."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if "/pymongo/" in name and "auth" in name.rsplit("/", 1)[-1]:
            return True
        tb = tb.tb_next
    return False


def _name_rejected(text: str) -> bool:
    lower = text.lower()
    # "Invalid identifier": the test server (nx-27017); "syntax error": its SQL choking on a name
    # such as `order`; "invalid namespace"/"invalid collection name": MongoDB.
    return any(p in lower for p in ("invalid identifier", "invalid namespace", "invalid collection name")) or bool(
        re.search(r'near ".*": syntax error', lower)
    )


def _unreachable(text: str, redact: Redactor) -> str:
    """``ServerSelectionTimeoutError`` text (a topology dump) ⇒ ``cannot reach host:port: cause (after 5 s)``."""
    head = text.split(", Timeout:", 1)[0]
    waited = re.search(r"Timeout: ([\d.]+)s", text)
    causes = []
    for match in re.finditer(r"([^\s,]+:\d+): (?:\[Errno -?\d+\] )?([^(,]+)", head):
        causes.append(f"{match.group(1)}: {match.group(2).strip().rstrip('.').lower()}")
    if not causes:  # "No replica set members match selector ..." and the like
        causes.append(f"{redact.hosts}: {head.strip()[:200]}")
    after = f" after {float(waited.group(1)):g} s" if waited else ""
    return (
        f"cannot reach MongoDB at {'; '.join(causes)} (gave up{after}; the wait is server_selection_timeout_ms,"
        " the uri's serverSelectionTimeoutMS)"
    )


def check_names(who: str, database: str, collection: str) -> None:
    """MongoDB's rules for names, checked before connecting: a ``ConfigError`` naming the option."""
    for option, value, bad in (("database", database, '/\\. "$\0'), ("collection", collection, "$\0")):
        found = sorted({c for c in value if c in bad})
        if found:
            shown = ", ".join(repr(c) for c in found)
            raise ConfigError(
                f"{who}: -S {option}={value!r}: MongoDB {option} names cannot contain {shown}", option=option
            )
    if collection.startswith("system.") or collection.startswith(".") or collection.endswith("."):
        raise ConfigError(
            f"{who}: -S collection={collection!r}: not a collection name MongoDB allows here"
            " (no leading or trailing dot, no system. prefix)",
            option="collection",
        )


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
            # Retrying a server selection that already waited its full timeout only multiplies the wait.
            err = translate(exc, what, redact, live=False)
            if live and not _server_selection(exc):
                err = translate(exc, what, redact, live=True)
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


def _server_selection(exc: BaseException) -> bool:
    from pymongo.errors import ServerSelectionTimeoutError

    return isinstance(exc, ServerSelectionTimeoutError)


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
        check_names(who, database, collection)
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

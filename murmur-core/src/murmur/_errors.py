"""The exceptions Murmur raises and the ones adapters raise to steer the runtime.

Two families matter to the apply path (SPEC §4.8):
- ``TransientError``: the operation may succeed if retried (throttling, timeouts, a lost
  connection). Adapters wrap their client's retryable errors in it.
- ``PermanentError``: retrying cannot help (undecodable payload, missing field, wrong type).
  The record goes to the dead-letter path at once.
Anything else raised by a store is treated as permanent for the record that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable


class MurmurError(Exception):
    """Base class of every error Murmur raises on purpose."""


class ConfigError(MurmurError):
    """Bad usage or configuration, found before any work starts (CLI exit code 2).

    ``option`` names the option, field or file at fault, so a CLI can point at it.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class PipelineError(ConfigError):
    """A pipeline definition is incomplete or inconsistent."""


class TransientError(MurmurError):
    """A failure that may go away on retry (throttling, timeout, connection)."""


class PermanentError(MurmurError):
    """A failure that retrying cannot fix; the record is dead-lettered."""

    kind = "apply"


class DecodeError(PermanentError):
    """A payload could not be decoded into a record value."""

    kind = "decode"


class FieldError(PermanentError):
    """A field the pipeline needs is missing or has the wrong type."""

    kind = "decode"


class StoreError(MurmurError):
    """A store failed permanently (not retried)."""


class ClaimConflict(MurmurError):
    """A transactional merge found event ids already claimed; nothing was written.

    The runtime drops those records as duplicates and merges the rest again.
    """

    def __init__(self, event_ids: Iterable[str]) -> None:
        self.event_ids = frozenset(event_ids)
        super().__init__(f"{len(self.event_ids)} event id(s) already claimed")


class ContributionConflict(MurmurError):
    """A changelog contribution changed under us between read and write; nothing was written.

    The runtime re-reads the contributions and merges again.
    """

    def __init__(self, doc_ids: Iterable[str]) -> None:
        self.doc_ids = frozenset(doc_ids)
        super().__init__(f"{len(self.doc_ids)} contribution(s) changed concurrently")


class CheckpointExists(ConfigError):
    """A bootstrap found checkpoints for its pipeline and was told neither to resume nor restart."""


class HandoffError(MurmurError):
    """A handoff token could not be captured, read, or used (expired, for another source)."""


class SourceError(MurmurError):
    """A source failed while reading; the run stops and keeps its checkpoint."""


class Cancelled(MurmurError):
    """Work was abandoned because of shutdown; nothing was acked or dead-lettered."""


class Aborted(MurmurError):
    """A bootstrap stopped at a dead letter because ``fail_on_error`` was set."""


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: our TransientError and the stdlib's timeouts/connection errors."""
    return isinstance(exc, (TransientError, TimeoutError, ConnectionError))

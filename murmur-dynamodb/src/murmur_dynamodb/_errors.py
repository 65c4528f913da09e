"""botocore failures ⇒ Murmur's transient/permanent families (SPEC §4.8).

Throttling, 5xx answers, timeouts and connection failures become ``murmur.TransientError``
(the runtime retries them, live mode pauses instead of dead-lettering); everything else
becomes the caller's permanent error class. The botocore exception is kept as ``__cause__``.
Conditional-check failures and cancelled transactions are not errors to the caller's caller:
they come back as :class:`ConditionFailed` / :class:`TransactionCancelled` for the adapter to
interpret (a lost race, a duplicate claim, an expired item).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from murmur import ConfigError, StoreError, TransientError

T = TypeVar("T")

#: Error codes DynamoDB (and its SDKs) use for "slow down" or "try again".
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "SlowDown",
    }
)

#: Cancellation-reason codes of TransactWriteItems that a retry may clear.
TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "InternalError"}
)


class ConditionFailed(Exception):
    """A ConditionExpression was false; ``item`` is the stored item when the call asked for it."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


class TransactionCancelled(Exception):
    """TransactWriteItems was cancelled; ``reasons`` has one ``{"Code": ...}`` per action."""

    def __init__(self, reasons: list[dict[str, Any]], message: str) -> None:
        super().__init__(message)
        self.reasons = reasons


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def translate(exc: BaseException, what: str, permanent: type[Exception] = StoreError) -> BaseException:
    """The exception to raise instead of ``exc`` (``exc`` itself when it is not botocore's)."""
    import botocore.exceptions as bex  # type: ignore[import-untyped, unused-ignore]

    if isinstance(exc, bex.ClientError):
        response: dict[str, Any] = exc.response
        code = error_code(exc) or "?"
        message = str(response.get("Error", {}).get("Message", "")).strip() or str(exc)
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "ConditionalCheckFailedException":
            return ConditionFailed(response.get("Item"))
        if code == "TransactionCanceledException":
            return TransactionCancelled(list(response.get("CancellationReasons") or []), message)
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientError(f"{what}: {code}: {message} (retryable)")
        if code == "ResourceNotFoundException":
            return permanent(
                f"{what}: {message} — create the tables with `murmur dynamodb create-tables` "
                "(or check the table option, region and endpoint_url)"
            )
        if code in (
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "AccessDeniedException",
            "ExpiredTokenException",
            "MissingAuthenticationTokenException",
        ):
            return permanent(f"{what}: {code}: {message} (check the AWS credentials boto3 found)")
        return permanent(f"{what}: {code}: {message}")
    if isinstance(exc, bex.NoRegionError):
        return ConfigError(
            f"{what}: no AWS region: give the region option (e.g. region=us-east-1), or set AWS_DEFAULT_REGION"
            " or AWS_REGION",
            option="region",
        )
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        from murmur_dynamodb._client import missing_credentials

        return ConfigError(f"{what}: {missing_credentials(None)} ({exc})", option="credentials")
    if isinstance(exc, bex.SSLError):  # a certificate problem does not heal by retrying
        return permanent(f"{what}: {exc}")
    if isinstance(exc, bex.ConnectionError | bex.HTTPClientError):
        return TransientError(f"{what}: {exc} (retryable)")
    if isinstance(exc, bex.BotoCoreError):
        return permanent(f"{what}: {exc}")
    return exc


def call(what: str, fn: Callable[..., T], /, permanent: type[Exception] = StoreError, **kwargs: Any) -> T:
    """``fn(**kwargs)`` with botocore's failures translated (see :func:`translate`)."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        new = translate(exc, what, permanent)
        if new is exc:
            raise
        raise new from exc

"""Exceptions of the sluice client: one class per broker status code.

The broker answers a failed request with ``Error{code, message}``; the codes
are ``ErrorCode`` of schema/sluice.fbs (the same values as ``sluice::Code`` in
src/common/status.h). Every one maps to a subclass of :class:`SluiceError`
named after it, so callers catch what they can handle::

    try:
        client.ack(task.token)
    except (sluice.StaleLease, sluice.NotFound):
        pass  # the lease is gone: drop this attempt's work

Client-side failures use the same classes, as the C++ client does:

- :class:`Unavailable`: not connected, connection lost, request timed out,
  client closed. A request written before the connection dropped may or may
  not have been applied.
- :class:`ProtocolError`: the peer answered with something the client cannot
  use (not a sluice broker, an undecodable frame, a wrong body type).
- :class:`InvalidArgument`: a request the client refuses to send (over the
  broker's max frame size, a bad value).
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Wire ErrorCode (schema/sluice.fbs), value for value."""

    OK = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    STALE_LEASE = 3
    STORAGE = 4
    NO_SPACE = 5
    RESOURCE_EXHAUSTED = 6
    UNAVAILABLE = 7
    INTERNAL = 8
    ALREADY_EXISTS = 9
    CORRUPTION = 10
    UNAUTHENTICATED = 11
    PROTOCOL = 12
    PAUSED = 13
    FAILED_PRECONDITION = 14
    CANCELLED = 15
    PERMISSION_DENIED = 16


class SluiceError(Exception):
    """A request failed. ``code`` is the broker's (or the client's) ErrorCode;
    ``message`` says what happened and, where it can, what to do next."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str = "", code: ErrorCode | int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            try:
                self.code = ErrorCode(code)
            except ValueError:
                self.code = code  # a code newer than this library

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, ErrorCode) else f"CODE_{self.code}"
        return f"{name}: {self.message}" if self.message else name


class InvalidArgument(SluiceError):
    """The request is wrong; fix it, do not retry as is."""

    code = ErrorCode.INVALID_ARGUMENT


class NotFound(SluiceError):
    """No such task, queue, dead letter, tenant or batch worker. For a lease
    token: the task is gone (acked, purged): drop the attempt's work."""

    code = ErrorCode.NOT_FOUND


class StaleLease(SluiceError):
    """The token is not the task's current lease: another worker may own the
    task now. Stop working on it and drop the result."""

    code = ErrorCode.STALE_LEASE


class StorageError(SluiceError):
    """The broker's store refused the write; retry later with backoff."""

    code = ErrorCode.STORAGE


class NoSpace(SluiceError):
    """The broker's disk is full; writes are refused until space is freed."""

    code = ErrorCode.NO_SPACE


class ResourceExhausted(SluiceError):
    """A limit: frame too large, too many connections or requests in flight."""

    code = ErrorCode.RESOURCE_EXHAUSTED


class Unavailable(SluiceError):
    """Not connected, connection lost, timed out, shutting down, client
    closed. Reconnect (the next call does) and retry."""

    code = ErrorCode.UNAVAILABLE


class InternalError(SluiceError):
    """A bug in the broker; report it with the message."""

    code = ErrorCode.INTERNAL


class AlreadyExists(SluiceError):
    code = ErrorCode.ALREADY_EXISTS


class Corruption(SluiceError):
    """Stored data failed validation; an operator must act."""

    code = ErrorCode.CORRUPTION


class Unauthenticated(SluiceError):
    """No Hello, or a wrong auth token: fix the credentials."""

    code = ErrorCode.UNAUTHENTICATED


class ProtocolError(SluiceError):
    """A malformed frame, an unknown request, a version mismatch, or a peer
    that is not a sluice broker."""

    code = ErrorCode.PROTOCOL


class Paused(SluiceError):
    """The queue is paused by an operator; retry later."""

    code = ErrorCode.PAUSED


class FailedPrecondition(SluiceError):
    """Valid, but the state refuses it (the message says how to change it)."""

    code = ErrorCode.FAILED_PRECONDITION


class Cancelled(SluiceError):
    """An operator cancelled the task: stop working on it, drop its result."""

    code = ErrorCode.CANCELLED


class PermissionDenied(SluiceError):
    """The token's credential lacks the role, tenant or queue this needs."""

    code = ErrorCode.PERMISSION_DENIED


_BY_CODE: dict[int, type[SluiceError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        StaleLease,
        StorageError,
        NoSpace,
        ResourceExhausted,
        Unavailable,
        InternalError,
        AlreadyExists,
        Corruption,
        Unauthenticated,
        ProtocolError,
        Paused,
        FailedPrecondition,
        Cancelled,
        PermissionDenied,
    )
}

#: Both answers to a token that no longer counts (``except LEASE_GONE:``):
#: a worker treats them alike and drops the attempt's work.
LEASE_GONE = (StaleLease, NotFound)


def error_for_code(code: int, message: str) -> SluiceError:
    """The exception for a wire ErrorCode (a plain SluiceError for a code this
    library does not know)."""
    cls = _BY_CODE.get(int(code))
    if cls is None:
        return SluiceError(message, code)
    return cls(message)

"""Telling a refused credential from other broker and backend failures, whatever the transport."""

from __future__ import annotations

_AUTH_FAILURES = frozenset({"AccessRefused", "AuthenticationError", "AuthenticationWrongNumberOfArgsError"})
_AUTH_MARKERS = ("ACCESS_REFUSED", "WRONGPASS", "NOAUTH", "invalid username-password")


def is_auth_failure(error: BaseException) -> bool:
    """True when the broker or backend refused the credentials (anywhere in the exception chain)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in _AUTH_FAILURES or any(m in str(current) for m in _AUTH_MARKERS):
            return True
        current = current.__cause__ or current.__context__
    return False

"""Retry a read-modify-write when someone else wrote first (client-go's retry.RetryOnConflict).

Optimistic concurrency means a write on a stale revision is refused with a
Conflict; the answer is to read again, apply the same change to what is
there now, and write again. Every such loop in labserver goes through
`retry_on_conflict`: the API server's storage (Storage.guaranteed_update)
and the kubelet's client (APIClient.update). It lives at the top of the
package because the API server and the kubelet share no other module.
"""
from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")

ATTEMPTS = 16   # upstream's GuaranteedUpdate retries without limit; 16 races in a row means a bug


def retry_on_conflict(attempt: Callable[[], T], is_conflict: Callable[[Exception], bool],
                      attempts: int = ATTEMPTS) -> T:
    """Call `attempt()` (one read, change and write) until it does not fail with a conflict.

    Any other exception, or a conflict on the last attempt, is raised as it is.
    """
    for remaining in range(attempts - 1, -1, -1):
        try:
            return attempt()
        except Exception as e:
            if remaining == 0 or not is_conflict(e):
                raise
    raise ValueError("attempts must be at least 1")

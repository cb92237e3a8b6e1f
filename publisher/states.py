"""Delivery states (PRODUCT.md) and attempt outcomes."""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"  # committed before the request leaves
    PUBLISHED = "published"
    RETRYING = "retrying"  # transient error, next attempt planned
    FAILED = "failed"  # permanent error or retries exhausted
    UNKNOWN = "unknown"  # the outcome of a send cannot be known yet
    CANCELED = "canceled"
    MISSED = "missed"  # later than max_lateness or not_after
    DRY_RUN = "dry-run"  # rendered by `run --dry-run`; never counts as published


# The reason a sync gives the deliveries it cancels (their post left the queue file): only
# those come back when the post does. One canceled by hand (`publisher resolve ID drop`) stays.
CANCELED_BY_SYNC = "removed from the queue file"

# Which states each change of the lifecycle leads from and to, and the sets of states that
# matter to it (waiting to be sent, in doubt, final): ``publisher.lifecycle``.


class Outcome(StrEnum):
    """What one attempt ended as, in the append-only ledger."""

    PUBLISHED = "published"
    DRY_RUN = "dry-run"
    TRANSIENT = "transient"
    RATE_LIMITED = "rate-limited"
    PERMANENT = "permanent"
    AMBIGUOUS = "ambiguous"
    INTERRUPTED = "interrupted"  # the daemon died while the request was out
    RESOLVED = "resolved"  # an unknown delivery found on the network (or by a human)
    INVALID = "invalid"  # the post cannot be rendered for this network

"""A bounded in-memory set of seen notification ids, for the webhook tests.

Centrapay delivers a notification at least once (doc §11.1); the addon dedupes
in its database (``centrapay.webhook.event``).
"""

import threading
from collections import OrderedDict


class NotificationDeduplicator:
    """Seen notification ids, the oldest forgotten past ``max_size``."""

    def __init__(self, max_size: int = 10_000) -> None:
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        self.max_size = max_size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def is_duplicate(self, notification_id: str) -> bool:
        """Record ``notification_id``; return True if it was already recorded."""
        with self._lock:
            if notification_id in self._seen:
                self._seen.move_to_end(notification_id)
                return True
            self._seen[notification_id] = None
            if len(self._seen) > self.max_size:
                self._seen.popitem(last=False)
            return False

    def forget(self, notification_id: str) -> None:
        """Drop an id, e.g. when processing failed and a redelivery must run."""
        with self._lock:
            self._seen.pop(notification_id, None)

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, notification_id: object) -> bool:
        return notification_id in self._seen

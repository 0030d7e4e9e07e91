"""Sandbox state: one JSON document guarded by a lock, persisted atomically."""

import contextlib
import json
import logging
import math
import os
import tempfile
import threading
import time

_logger = logging.getLogger(__name__)

STATE_VERSION = 1

# Keys wiped by a reset; identity (credentials, signing key, patron) survives so
# that a configured POS keeps working against a reset sandbox.
_RESETTABLE = {
    "paymentRequests": dict,
    "activities": dict,
    "payIdempotency": dict,
    "faults": list,
    "webhookOutbox": list,
    "settlements": dict,
    # Patron codes made by tests (the fixed ones are not stored).
    "patronCodes": dict,
}


def _empty_state():
    state = {
        "version": STATE_VERSION,
        "credentials": {},
        # More merchant accounts (``Sandbox.add_account``), each shaped like
        # ``credentials``: identity, kept by a reset.
        "accounts": [],
        "signingKey": None,
        "patron": {},
        "clockOffset": 0.0,
        "webhook": {},
        "seq": 0,
    }
    state.update({key: factory() for key, factory in _RESETTABLE.items()})
    return state


class Store:
    """In-memory state with optional JSON persistence and a controllable clock.

    All access goes through :meth:`mutate` (or holds :attr:`lock`), which keeps
    the threaded HTTP handlers, the webhook dispatcher and the persistence
    consistent. ``path=None`` keeps everything in memory.

    ``save_interval`` > 0: while :meth:`start_autosave` runs, a change is saved
    by a background thread at most that many seconds later instead of at once
    (a large state takes a while to write; the thread waits at least four times
    as long as its last save took). A killed process then loses the last
    seconds of changes.
    """

    def __init__(self, path=None, save_interval=0.0):
        self.path = path
        self.lock = threading.RLock()
        self._dirty = False
        self.save_interval = float(save_interval or 0)
        self._saver = None
        self._saver_stop = threading.Event()
        self.state = self._load()

    def _load(self):
        state = _empty_state()
        if self.path and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as fh:
                loaded = json.load(fh)
            if loaded.get("version") != STATE_VERSION:
                raise ValueError(
                    f"unsupported sandbox state version in {self.path}: "
                    f"{loaded.get('version')!r}"
                )
            state.update(loaded)
        return state

    # A thread inside :meth:`at`: (store, pinned time).
    _pinned = threading.local()

    def now(self):
        """Sandbox time: wall clock plus the clock-control offset, in whole ms.

        Whole milliseconds keep stored times equal to their ISO strings, so
        ``expiresAt - createdAt`` is exactly ``expirySeconds``.
        """
        pinned = getattr(self._pinned, "at", None)
        if pinned is not None and pinned[0] is self:
            return pinned[1]
        return math.floor((time.time() + self.state["clockOffset"]) * 1000) / 1000

    @contextlib.contextmanager
    def at(self, ts):
        """Hold the lock and pin this thread's sandbox time to ``ts``.

        For made-up history (demo settlements): other threads keep the real
        sandbox time, and none of them runs meanwhile.
        """
        with self.lock:
            previous = getattr(self._pinned, "at", None)
            self._pinned.at = (self, math.floor(ts * 1000) / 1000)
            try:
                yield
            finally:
                self._pinned.at = previous

    def next_seq(self):
        """Monotonic counter used to order records created in the same instant."""
        self.state["seq"] += 1
        self._dirty = True
        return self.state["seq"]

    def touch(self):
        """Mark the state as changed so that it is saved when the mutation ends."""
        self._dirty = True

    @contextlib.contextmanager
    def mutate(self):
        """Hold the lock; save on exit if anything called :meth:`touch`.

        The state is saved even when the body raises: changes made before an
        error (e.g. a lazy expiry before ``REQUEST_EXPIRED``) are real.
        """
        with self.lock:
            try:
                yield self.state
            finally:
                if self._dirty and self._saver is None:
                    self.save()

    def start_autosave(self):
        """Save changes every ``save_interval`` seconds (if > 0) from a thread."""
        if self.save_interval <= 0 or not self.path or self._saver is not None:
            return
        self._saver_stop.clear()
        self._saver = threading.Thread(
            target=self._autosave, name="centrapay-sandbox-saver", daemon=True
        )
        self._saver.start()

    def stop_autosave(self):
        """Stop the saving thread; changes are saved at once again (call
        :meth:`save` for those it has not saved yet)."""
        saver, self._saver = self._saver, None
        if saver is not None:
            self._saver_stop.set()
            saver.join(timeout=30)

    def _autosave(self):
        pause = self.save_interval
        while not self._saver_stop.wait(pause):
            with self.lock:
                if not self._dirty:
                    continue
                started = time.monotonic()
                try:
                    self.save()
                except OSError:
                    _logger.exception("could not save the sandbox state")
                # Every call waits for the lock while a large state is written:
                # spend at most a fifth of the time saving.
                pause = max(self.save_interval, 4 * (time.monotonic() - started))

    def save(self):
        with self.lock:
            self._dirty = False
            if not self.path:
                return
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            # One C-encoded string: json.dump writes a large state in many pieces.
            text = json.dumps(self.state, separators=(",", ":"))
            fd, tmp = tempfile.mkstemp(prefix=".sandbox-state-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o600)  # the state holds the API key and signing key
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError as exc:
                    _logger.debug("could not remove %s: %s", tmp, exc)
                raise

    def reset(self):
        """Forget payment data, faults, clock offset and webhook config."""
        with self.mutate():
            for key, factory in _RESETTABLE.items():
                self.state[key] = factory()
            self.state["clockOffset"] = 0.0
            self.state["webhook"] = {}
            self.touch()
        _logger.info("sandbox state reset")

"""Constants of the Centrapay integration, in one place."""

# When a pending request is voided or given up, beside that decision.
from .centrapay.pending import (  # noqa: F401
    GIVE_UP_AFTER_SECONDS,
    MAX_UNKNOWN_ERRORS,
    POS_TIMEOUT_GRACE_SECONDS,
)

PRODUCTION_API_URL = "https://service.centrapay.com"
PRODUCTION_JWKS_URL = "https://auth.centrapay.com/api/.well-known/jwks.json"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8900"

# Currencies Centrapay asset types settle in (doc §3.2: NZD main, USD for
# PayPal/Venmo, AUD/CAD/EUR on some asset types).
SUPPORTED_CURRENCIES = ("NZD", "AUD", "USD", "CAD", "EUR")

DEFAULT_EXPIRY_SECONDS = 120
# doc §15.5: the bounds are undocumented; these keep a patron's scan window sane.
MIN_EXPIRY_SECONDS = 30
MAX_EXPIRY_SECONDS = 900
# A payment the cashier cancelled but the patron paid anyway is refunded when no
# order line has claimed it this long after it was paid: a till that learned
# "paid" saves its order within seconds; one that gave up never will.
ABANDONED_AFTER_SECONDS = 900

# Statuses of a Payment Request at Centrapay (doc §4.1) plus our local ones:
# ``draft`` before Centrapay answered the create, ``error`` when it never did.
PENDING_STATUSES = ("draft", "new")
FINAL_STATUSES = ("paid", "cancelled", "expired", "error")
# Refund states that hold part of a request's money (not refundable again).
REFUND_HELD_STATES = ("draft", "unknown", "initiated", "completed")

# The status engine (models/centrapay_engine.py).
# A pass every quarter second while anything waits: follow each account's feed when due,
# then read the requests that are due directly.
ENGINE_PASS_SECONDS = 0.25
# One cron call runs passes for this long, then reports progress so the cron
# runner calls it again at once. No Centrapay call starts after it.
ENGINE_WINDOW_SECONDS = 8.0
# The calls of one run of the cron job (the runner makes up to 10 in a row)
# start no Centrapay call after this long, so that a run, its last call's
# reads included (at most 13 s each), stays well inside a cron worker's
# limit_time_real (120 s by default): no limit_time_real_cron is needed.
ENGINE_RUN_SECONDS = 60
# The accounts of one database are passed over in threads of their own, at
# most this many at once. Each holds a connection, and each of its reads at
# once (ENGINE_READS_AT_ONCE) two more at most: 8 x 7 = 56 at the very worst,
# under Odoo's db_maxconn (64) of the cron worker; the engine skips a pass
# when the pool is full.
ENGINE_ACCOUNT_THREADS = 8
# Direct reads in one pass stop after this long; the rest wait for the next.
ENGINE_READS_PER_PASS_SECONDS = 0.5
# An account's due requests are read this many at once (each in a thread and a
# transaction of its own).
ENGINE_READS_AT_ONCE = 3
# The ended requests a pass takes for each of its background steps (the ledger,
# the rest of a partly paid request, the give-back); more wait for the next pass.
ENGINE_STEP_BATCH = 20
# The feed is read every half second while requests wait (a payment is then
# known in about half a second plus two round trips: the feed, then the
# request), every 30 s while a till of the account is open and nothing waits.
# 120 reads a minute leave 60 of the 180 the engine may use for the creates'
# and the direct reads (RATE_FEED_LIMIT_PER_MINUTE stops the feed first).
FEED_BUSY_SECONDS = 0.5
FEED_IDLE_SECONDS = 30
# With no till open and nothing waiting, nothing of ours can change at
# Centrapay: only a refund made in its portal, or a settlement (made once a day,
# confirmed days later). The engine then reads each account's feed and its
# settlements once an hour: 48 calls a day, not 2,880 feed reads and 288
# settlement reads. A portal refund reaches the ledger within the hour, well
# before the daily reconciliation needs it. A till that opens, or a request,
# brings the usual pace back at once.
IDLE_SWEEP_SECONDS = 3600
# At most this many feed pages in one pass; the rest is resumed next pass.
FEED_MAX_PAGES = 5
# A pending request is also read directly, at most this often; beside a working
# feed, the routine direct reads of an account share this pace (a safety net:
# the feed shows payments and cancellations, and each request is read at its
# expiry and at the POS's timeout whatever the pace).
DIRECT_READ_MIN_SECONDS = 1
DIRECT_READS_PER_MINUTE = 30
# The engine counts as stopped when it has not passed over an account for this
# long; the POS status RPC then reads a stale request itself.
ENGINE_STALE_SECONDS = 5
# A new request's draft is not due for the engine before its create call could
# have ended (3 attempts of a (3.05 s, 10 s) timeout, backoff and a 5 s 429 wait).
CREATE_CALL_MAX_SECONDS = 60
# A create borrows two cursors of Odoo's pool besides its RPC's (its draft's,
# then its call's, with a moment of the rate budget's). At most this many
# creates run at once per process, so that a burst of tills on a threaded
# server (one pool for every till) cannot empty the pool; a prefork worker
# serves one request at a time. A create waits this long for its turn, then
# the cashier is told to try again (nothing was stored or sent).
CREATES_AT_ONCE = 16
CREATE_TURN_WAIT_SECONDS = 10
# Each pass over an account with a till open keeps a connection open for each
# of its tills for this long (engine ``_centrapay_keep_warm``). An idle engine
# asks for a pass every FEED_IDLE_SECONDS, but Odoo's cron runner wakes up only
# about once a minute (SLEEP_INTERVAL): a wake-up missed still finds them open.
KEEP_WARM_SECONDS = 150
# ... and renewed this often, or as soon as the open tills or methods change.
KEEP_WARM_RENEW_SECONDS = 15
# With the engine stopped (no cron worker), the tills' status polls make the
# engine's passes over their account: one pass per account this often, however
# many tills poll, and no Centrapay call starts after its window.
POLL_PASS_SECONDS = 0.5
# While the engine is not running, each waiting till polls every
# POLL_PASS_SECONDS (the RPCs' ``poll_ms``), or, when more than five wait on a
# method, every POS_POLL_SHARE_SECONDS times how many wait (10 polls a second
# per method at most), up to POS_POLL_MAX_SECONDS; while it runs, the bus tells
# the till and it does not poll.
POS_POLL_SHARE_SECONDS = 0.1
POS_POLL_MAX_SECONDS = 2
POLL_PASS_WINDOW_SECONDS = 2
# The rate budget per account, counted per HTTP attempt in a sliding 60 s
# window, under Centrapay's 200 requests/minute (5 spare for clock skew): a
# cashier is refused only when the account is at Centrapay's limit. The feed
# and the reads with a reason (those the feed or a webhook points at, a Quick
# Pay's first read, a request past its expiry) stop earlier, and routine direct
# reads earlier still: they are only a safety net beside a working feed, and
# must never starve it, since it finds every payment with one call every half
# second. Ten tills paying every 20 s take 30 creates, 30 reads of paid
# requests and the feed's 120 a minute.
RATE_LIMIT_PER_MINUTE = 195
RATE_POLL_LIMIT_PER_MINUTE = 180
# The feed stops short of the reads it points at: in a full window each slot
# that frees would otherwise go to the feed, which runs first in a pass, and a
# paid request could wait a minute for its read.
RATE_FEED_LIMIT_PER_MINUTE = 165
RATE_READ_LIMIT_PER_MINUTE = 150
# The feed is read every FEED_BUSY_SECONDS while the window holds fewer calls
# than this, every other time after. Past it routine reads get no slot anyway;
# halving the feed's pace then keeps room for the reads it points at and for
# the cashiers (50 tills at once).
RATE_FEED_FAST_BELOW = RATE_READ_LIMIT_PER_MINUTE
# Each POS session's fair share of the cashier's part: with n other sessions
# calling, RATE_LIMIT_PER_MINUTE / (n + 2), never less than this. Alone, a till
# (or a script with a cashier's login) takes at most half; the rest is kept
# for the others.
RATE_SESSION_MIN_PER_MINUTE = 20
# Serialization failures on our own small rows are retried at once, this often.
DB_CONFLICT_RETRIES = 20

# Bounds on what the POS may send.
MAX_LINE_ITEMS = 500
MAX_ID_LENGTH = 64
# The most of one product a POS refund line may return.
MAX_REFUND_QTY = 1_000_000
MAX_AMOUNT = 999999.99

BUS_CHANNEL = "CENTRAPAY_STATUS"

# Settlements (models/centrapay_settlement.py, doc §6.13). The engine reads each
# account's settlements (E19) this often, newest first, at most this many pages.
SETTLEMENT_SYNC_SECONDS = 300
SETTLEMENT_MAX_PAGES = 10
# A settlement not confirmed this many days after its period is late.
SETTLEMENT_LATE_DAYS = 3
# A payment is looked for in settlements up to this many days after it.
SETTLEMENT_MATCH_WINDOW_DAYS = 31
# Each sync matches the ledger again to the settlements of this many last days.
SETTLEMENT_REMATCH_DAYS = 14

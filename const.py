"""Constants of the Centrapay integration, in one place."""

PRODUCTION_API_URL = "https://service.centrapay.com"
PRODUCTION_JWKS_URL = "https://auth.centrapay.com/api/.well-known/jwks.json"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8900"

# Currencies Centrapay asset types settle in (SPEC §3.2: NZD main, USD for
# PayPal/Venmo, AUD/CAD/EUR on some asset types).
SUPPORTED_CURRENCIES = ("NZD", "AUD", "USD", "CAD", "EUR")

DEFAULT_EXPIRY_SECONDS = 120
# SPEC §15.5: the bounds are undocumented; these keep a patron's scan window sane.
MIN_EXPIRY_SECONDS = 30
MAX_EXPIRY_SECONDS = 900
# SPEC §7.2: the POS gives up 5-10 s after the request's expiry, then voids.
POS_TIMEOUT_GRACE_SECONDS = 7

# Statuses of a Payment Request at Centrapay (SPEC §4.1) plus our local ones:
# ``draft`` before Centrapay answered the create, ``error`` when it never did.
PENDING_STATUSES = ("draft", "new")
FINAL_STATUSES = ("paid", "cancelled", "expired", "error")

# Polling: the cron wakes about once a second while requests are pending.
POLL_INTERVAL_SECONDS = 1
# A request is re-read from Centrapay by an RPC when its last read is older.
STALE_AFTER_SECONDS = 3
# Consecutive unknown outcomes before the request is voided (SPEC §7.3).
MAX_UNKNOWN_ERRORS = 3
# A request still pending this long after its expiry is abandoned (status error).
GIVE_UP_AFTER_SECONDS = 600

# Shared rate budget per API key, kept under Centrapay's 200 requests/minute.
RATE_LIMIT_PER_MINUTE = 180
RATE_BURST = 20
# Polls leave this many tokens for the cashier's own calls (create, cancel).
RATE_INTERACTIVE_RESERVE = 5

BUS_CHANNEL = "CENTRAPAY_STATUS"

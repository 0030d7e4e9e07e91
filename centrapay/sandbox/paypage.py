"""The emulated patron pay page ``/pay/{id}`` (what the QR code opens)."""

from html import escape

_STATUS_TEXT = {
    "new": "Waiting for payment",
    "paid": "Paid",
    "cancelled": "Cancelled",
    "expired": "Expired",
}

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1d1d1f}
main{max-width:420px;margin:0 auto;padding:24px 16px}
.card{background:#fff;border-radius:16px;padding:24px;box-shadow:0 2px 12px #0001}
h1{font-size:1.1rem;margin:0 0 4px}.muted{color:#666;font-size:.9rem}
.amount{font-size:2.4rem;font-weight:700;margin:16px 0 4px}
.status{display:inline-block;padding:4px 12px;border-radius:999px;font-weight:600;
margin:12px 0}
.new{background:#fff4ce}.paid{background:#d7f5dd}.cancelled,.expired{background:#fde0e0}
button{width:100%;padding:16px;border:0;border-radius:12px;font-size:1.05rem;
font-weight:600;margin-top:12px;cursor:pointer}
.pay{background:#1d4ed8;color:#fff}.cancel{background:#e5e7eb;color:#1d1d1f}
.error{background:#fde0e0;border-radius:8px;padding:8px 12px;margin-top:12px}
code{font-size:1.05rem;letter-spacing:.05em}
"""

_COUNTDOWN_JS = """
(function(){var el=document.getElementById('countdown');if(!el)return;
var left=parseInt(el.dataset.seconds,10);function tick(){
if(left<=0){el.textContent='0:00';location.reload();return;}
el.textContent=Math.floor(left/60)+':'+String(left%60).padStart(2,'0');left--;}
tick();setInterval(tick,1000);})();
"""


def _format_amount(amount, currency):
    cents = int(amount)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency}"


def _page(title, body, refresh=None):
    meta_refresh = (
        f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"{meta_refresh}<title>{escape(title)}</title><style>{_STYLE}</style>"
        f"</head><body><main>{body}</main></body></html>"
    )


def render(pr, seconds_left, error=None):
    """Render the pay page for a Payment Request document."""
    status = pr["status"]
    amount = _format_amount(pr["value"]["amount"], pr["value"]["currency"])
    parts = [
        "<div class='card'>",
        f"<h1>{escape(pr['merchantName'])}</h1>",
        "<div class='muted'>Centrapay sandbox — test money only</div>",
        f"<div class='amount'>{escape(amount)}</div>",
        f"<div class='muted'>Short code <code>{escape(pr['shortCode'])}</code></div>",
        f"<div class='status {escape(status)}' id='status'>",
        f"{escape(_STATUS_TEXT.get(status, status))}</div>",
    ]
    if status == "new":
        parts.append(
            "<div class='muted'>Expires in "
            f"<span id='countdown' data-seconds='{max(0, int(seconds_left))}'>"
            f"{max(0, int(seconds_left))} s</span></div>"
        )
        action = f"/pay/{escape(pr['id'])}"
        parts.append(
            f"<form method='post' action='{action}'>"
            "<input type='hidden' name='action' value='pay'>"
            "<button class='pay' type='submit'>Pay with test NZD</button></form>"
            f"<form method='post' action='{action}'>"
            "<input type='hidden' name='action' value='cancel'>"
            "<button class='cancel' type='submit'>Cancel</button></form>"
        )
    elif status == "cancelled" and pr.get("cancellationReason"):
        parts.append(f"<div class='muted'>{escape(pr['cancellationReason'])}</div>")
    if error:
        parts.append(f"<div class='error'>Payment failed: {escape(error)}</div>")
    parts.append("</div>")
    if status == "new":
        parts.append(f"<script>{_COUNTDOWN_JS}</script>")
    # Auto-refresh while new so the page follows a void/expiry done elsewhere.
    return _page(
        f"Pay {pr['merchantName']}",
        "".join(parts),
        refresh=3 if status == "new" else None,
    )


def render_not_found():
    return _page(
        "Payment request not found",
        "<div class='card'><h1>Payment request not found</h1>"
        "<div class='muted'>Check the QR code and try again.</div></div>",
    )

"""Sandbox: the patron pay page at ``/pay/{id}``."""

import re

from centrapay.sandbox import Sandbox


def _page(api, pr_id, **kwargs):
    return api.get(f"/pay/{pr_id}", key=False, **kwargs)


def test_page_shows_request(api, sandbox):
    pr = api.create(123456, expirySeconds=90)
    resp = _page(api, pr["id"])
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    html = resp.text
    assert sandbox.merchant_name in html
    assert "$1,234.56 NZD" in html
    assert pr["shortCode"] in html
    assert "Waiting for payment" in html
    assert 80 <= int(re.search(r"data-seconds='(\d+)'", html).group(1)) <= 90
    assert 'http-equiv="refresh"' in html  # follows changes while new
    assert "Pay with test NZD" in html
    assert "name='viewport'" in html
    assert (
        "http://" not in html.replace(sandbox.base_url, "") and "https://" not in html
    )


def test_post_pays_and_redirects(api, sandbox):
    pr = api.create(500)
    resp = api.post(
        f"/pay/{pr['id']}", key=False, data={"action": "pay"}, allow_redirects=False
    )
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/pay/{pr['id']}"
    assert api.pr(pr["id"])["status"] == "paid"
    html = _page(api, pr["id"]).text
    assert "Paid" in html
    assert "Pay with test NZD" not in html
    assert "http-equiv" not in html
    assert api.pr(pr["id"])["paidBy"]["assetTotals"][0]["type"] == "centrapay.nzd.test"


def test_post_cancel(api):
    pr = api.create()
    api.post(f"/pay/{pr['id']}", key=False, data={"action": "cancel"})
    assert api.pr(pr["id"])["cancellationReason"] == "CANCELLED_BY_PATRON"
    assert "Cancelled" in _page(api, pr["id"]).text


def test_post_on_expired_request_shows_error(api, control):
    pr = api.create()
    control.expire(pr["id"])
    resp = api.post(f"/pay/{pr['id']}", key=False, data={"action": "pay"})
    assert resp.status_code == 200  # followed the redirect
    assert resp.url.endswith("?error=REQUEST_EXPIRED")
    assert "Expired" in resp.text
    assert "REQUEST_EXPIRED" in resp.text


def test_unknown_request_is_404(api):
    assert _page(api, "nope").status_code == 404
    assert api.post("/pay/nope", key=False, data={"action": "pay"}).status_code == 404


def test_everything_is_escaped(tmp_path, api_for):
    name = "<script>alert(1)</script> & Co"
    with Sandbox(state_path=str(tmp_path / "s.json"), merchant_name=name) as sandbox:
        api = api_for(sandbox)
        pr = api.create()
        html = api.get(
            f"/pay/{pr['id']}",
            key=False,
            params={"error": "<img src=x onerror=alert(1)>"},
        ).text
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
        assert "<img" not in html

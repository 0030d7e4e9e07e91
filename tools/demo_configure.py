"""Point the demo's Centrapay method at a running sandbox (odoo shell script).

Run by ``tools/dev.py demo`` as ``odoo shell < tools/demo_configure.py`` with the
sandbox's credentials in ``CENTRAPAY_DEMO_CREDENTIALS`` (a JSON file path) and
the URL webhooks reach Odoo at in ``CENTRAPAY_DEMO_BASE_URL``.
``env`` is the shell's environment.
"""

import json
import os

with open(os.environ["CENTRAPAY_DEMO_CREDENTIALS"]) as handle:
    credentials = json.load(handle)
method = env.ref("pos_centrapay.pos_payment_method_centrapay_demo")  # noqa: F821
values = {
    "centrapay_environment": "sandbox",
    "centrapay_base_url": credentials["base_url"],
    "centrapay_api_key": credentials["api_key"],
    "centrapay_merchant_config_id": credentials["merchant_config_id"],
    "centrapay_merchant_id": credentials["merchant_id"],
    "centrapay_merchant_account_id": credentials["merchant_account_id"],
    "centrapay_webhook_enabled": True,
    # Every flow of the till: partial payments and payment conditions too.
    "centrapay_partial_allowed": True,
    "centrapay_conditions_enabled": True,
    # A Farmlands card scanned for a whole order gets 5 % off (CP-ASSET-3).
    "centrapay_farmlands_discount": 5.0,
}
# Only what changed: an open POS session forbids other writes, and a restarted
# sandbox keeps its credentials.
method.write({k: v for k, v in values.items() if method.sudo()[k] != v})
# Frozen: otherwise Odoo rewrites web.base.url from the address the admin logs in
# with, and webhooks signed for the URL they really reach would be refused.
if os.environ.get("CENTRAPAY_DEMO_BASE_URL"):
    params = env["ir.config_parameter"].sudo()  # noqa: F821
    params.set_param("web.base.url", os.environ["CENTRAPAY_DEMO_BASE_URL"])
    params.set_param("web.base.url.freeze", "True")
env.cr.commit()  # noqa: F821

"""Demo sales for the reconciliation screens (odoo shell script, run once).

Run by ``tools/dev.py demo`` as ``odoo shell < tools/demo_data.py`` after the
Centrapay method is configured; ``CENTRAPAY_DEMO_CREDENTIALS`` names the
sandbox's credentials file. Through the same server calls the POS makes, and
the sandbox's patron, it records a few Centrapay sales over the last days, a
partial refund from the back office, and one payment taken at Centrapay that no
POS order records (an orphan, as when a browser closes at the POS timeout);
and, at Centrapay, three past days of sales and their settlements. Does nothing
if the demo already has Centrapay sales.
"""

import json
import os
import time
from datetime import timedelta

from odoo import Command, fields

from odoo.addons.pos_centrapay.centrapay.sandbox.control import SandboxControl

# As the demo's manager (the shell runs as the superuser, who is no POS user).
env = env(user=env.ref("base.user_admin").id)  # noqa: F821
with open(os.environ["CENTRAPAY_DEMO_CREDENTIALS"]) as handle:
    credentials = json.load(handle)
control = SandboxControl(credentials["base_url"])
method = env.ref("pos_centrapay.pos_payment_method_centrapay_demo")
env = env(context={"allowed_company_ids": method.company_id.ids})
method = method.with_env(env)
config = env.ref("pos_centrapay.pos_config_centrapay_cafe")
Request = env["centrapay.payment.request"]

if not Request.search_count([("payment_method_id", "=", method.id)]):
    # Past days of sales at Centrapay and their settlements (before Odoo's feed
    # has read anything: it reads back only to the newest activity it has).
    control.seed_settlements(days=3)
    if not config.current_session_id:
        config.open_ui()
    session = config.current_session_id
    if session.state == "opening_control":
        session.set_opening_control(0, "")
    # A request is committed on its own before Centrapay is called: it needs a
    # committed session, as a till's has.
    env.cr.commit()

    def paid(amount, name):
        state = method.centrapay_create_request(
            {
                "amount": amount,
                "payment_uuid": name,
                "order_uuid": name,
                "order_name": name,
                "session_id": session.id,
            }
        )
        control.pay(state["centrapay_id"])
        env.cr.commit()  # a new transaction, which sees the committed request
        request = Request.search([("centrapay_id", "=", state["centrapay_id"])])
        request.sudo().write({"last_read_at": False})
        # Committed before the status polls, as a till's RPCs are: without a
        # cron worker, a poll makes the engine's pass over the account, once a
        # second (a new transaction then sees it, as the next RPC would).
        for _poll in range(50):
            env.cr.commit()
            polled = method.centrapay_get_status(state["centrapay_id"], session.id)
            if polled["status"] == "paid":
                break
            time.sleep(0.2)
        env.cr.commit()
        return request

    cafe_sale = env["product.product"].create(
        {
            "name": "Café sale",
            "type": "service",
            "available_in_pos": False,
            "taxes_id": [Command.clear()],
        }
    )

    def order(request, days_ago):
        # As a till saves it: a line of what was sold, and the Centrapay line
        # with the payment line's uuid, which binds it to its request.
        created = env["pos.order"].create(
            {
                "session_id": session.id,
                "state": "paid",
                "amount_total": request.amount,
                "amount_tax": 0,
                "amount_paid": request.amount,
                "amount_return": 0,
                "lines": [
                    Command.create(
                        {
                            "product_id": cafe_sale.id,
                            "qty": 1,
                            "price_unit": request.amount,
                            "price_subtotal": request.amount,
                            "price_subtotal_incl": request.amount,
                        }
                    )
                ],
                "payment_ids": [
                    Command.create(
                        {
                            "amount": request.amount,
                            "payment_method_id": method.id,
                            "centrapay_request_id": request.centrapay_id,
                            "centrapay_short_code": request.short_code,
                            "uuid": request.pos_payment_uuid,
                        }
                    )
                ],
            }
        )
        when = fields.Datetime.now() - timedelta(days=days_ago)
        created.date_order = when
        env.cr.execute(
            "UPDATE centrapay_payment_request SET create_date = %s WHERE id = %s",
            [when, request.id],
        )
        return created

    for days_ago, amount in ((2, 18.40), (2, 7.50), (1, 32.00), (1, 12.80), (0, 9.90)):
        order(paid(amount, f"Demo sale {days_ago}-{amount}"), days_ago)
    refunded = paid(24.00, "Demo sale refunded")
    order(refunded, 1)
    # A manager's partial refund from the back office: booked as a refund order.
    env["centrapay.refund.wizard"].with_context(active_id=refunded.id).create(
        {"amount": 6.00, "reason": "Wrong size"}
    ).action_refund()
    paid(14.20, "Demo orphan")  # paid at Centrapay; the till never recorded it
    env.cr.commit()

"""A test aid: every page of a merchant's activities (E10), which the addon
never reads whole (the engine walks back only to what it already stored)."""


def every_activity(client, merchant_id, *, limit=None, max_pages=None):
    """Iterate over every page of ``client.list_payment_activities``."""
    return client._iter_pages(
        lambda key: client.list_payment_activities(
            merchant_id, page_key=key, limit=limit
        ),
        max_pages,
    )

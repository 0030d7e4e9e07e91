"""Row locks, written once: which rows a transaction takes, and which it skips."""

from odoo.tools import SQL


def lock_rows(table, condition, *, no_key, wait=False):
    """``SELECT id FROM table WHERE condition FOR [NO KEY] UPDATE [SKIP LOCKED]``.

    ``no_key``: for rows others reference, such as a request whose activities
    the feed stores meanwhile: their foreign key check does not wait for us.
    Without ``wait``, a row another transaction holds is skipped, not awaited.
    """
    return SQL(
        "SELECT id FROM %s WHERE %s FOR %s%s",
        SQL.identifier(table),
        condition,
        SQL("NO KEY UPDATE") if no_key else SQL("UPDATE"),
        SQL() if wait else SQL(" SKIP LOCKED"),
    )

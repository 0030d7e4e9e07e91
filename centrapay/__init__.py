"""Plain-Python Centrapay integration: API client, webhook verifier and sandbox.

Nothing in this package imports ``odoo``: it is usable and testable on its own.
"""

from odoo.tests import tagged

from .common import CentrapayCommon


@tagged("post_install", "-at_install")
class TestCentrapayConnections(CentrapayCommon):
    """What the engine and the RPCs cost on a real network."""

    def api_connections(self):
        return [
            call["connection"]
            for call in self.control.calls()
            if call["path"].startswith("/api")
        ]

    def test_calls_of_an_account_reuse_one_connection(self):
        state = self.create_request()
        self.make_stale(self.record(state))
        self.engine_pass()
        self.cancel(state)
        connections = self.api_connections()
        # The create, the feed, the read and the void: each a new client, all
        # on the connection the first call opened.
        self.assertGreaterEqual(len(connections), 3)
        self.assertEqual(len(set(connections)), 1, connections)

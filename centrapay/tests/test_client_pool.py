"""One pooled HTTP session per account and process: calls reuse connections."""

import os
import threading
from decimal import Decimal

from centrapay import client as client_module
from centrapay.client import CentrapayClient, shared_session


def api_connections(control):
    return [c["connection"] for c in control.calls() if c["path"].startswith("/api")]


def make_client(sandbox, api_key=None):
    key = api_key or sandbox.api_key
    return CentrapayClient(
        sandbox.base_url, key, session=shared_session(sandbox.base_url, key)
    )


def test_clients_of_one_account_reuse_one_connection(sandbox, control):
    created = make_client(sandbox).create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal("2.00"),
        currency="NZD",
        external_ref="pool-1",
    )
    # A client per call, as Odoo makes them: each call still reuses the first
    # call's connection.
    for _ in range(4):
        with make_client(sandbox) as client:
            client.get_payment_request(created["id"])
    connections = api_connections(control)
    assert len(connections) == 5
    assert len(set(connections)) == 1, connections


def test_the_shared_session_is_per_account(sandbox):
    first = shared_session(sandbox.base_url, sandbox.api_key)
    assert shared_session(sandbox.base_url + "/", sandbox.api_key) is first
    assert shared_session(sandbox.base_url, sandbox.api_key + "x") is not first


def test_threads_share_the_pool_without_a_connection_per_call(sandbox, control):
    created = make_client(sandbox).create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal("2.00"),
        currency="NZD",
        external_ref="pool-threads",
    )
    errors = []

    def reads():
        try:
            for _ in range(5):
                make_client(sandbox).get_payment_request(created["id"])
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=reads) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    connections = api_connections(control)
    assert len(connections) == 31
    # At most one connection per thread at once (plus the create's, reused).
    assert len(set(connections)) <= 6, sorted(set(connections))


def test_a_forked_child_opens_its_own_connections(sandbox):
    shared_session(sandbox.base_url, sandbox.api_key)
    assert client_module._shared_sessions
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it inherited the parent's sessions
        os.write(write_end, b"1" if client_module._shared_sessions else b"0")
        os._exit(0)
    os.close(write_end)
    inherited = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert inherited == b"0"

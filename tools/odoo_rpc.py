"""A JSON-RPC session with Odoo, as a till holds one: the tools' one client.

Used by ``bench_concurrency.py`` and ``soak.py``. One keep-alive connection per
session; a connection the server (or nginx, after its keepalive timeout) closed
while idle is replaced once, as a browser does; any other failure to reach Odoo
raises ``Offline`` (the POS's ConnectionLostError), an error answer ``RpcError``.
"""

import http.client
import json
from urllib.parse import urlsplit

RPC_TIMEOUT = 150  # Odoo's HTTP workers are killed after 120 s


class RpcError(Exception):
    """Odoo answered with an error (or an HTTP error from nginx)."""


class Offline(Exception):
    """Odoo could not be reached (the POS's ConnectionLostError)."""


class Rpc:
    """A JSON-RPC session with Odoo over one keep-alive connection."""

    def __init__(self, url, db, context=None, timeout=RPC_TIMEOUT):
        parts = urlsplit(url)
        self.timeout = timeout
        self.host, self.port = parts.hostname, parts.port or 80
        self.db = db
        self.context = context or {}
        self.cookie = None
        self.conn = None
        self._ids = 0

    def _post(self, path, params):
        self._ids += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "method": "call", "id": self._ids, "params": params}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.cookie:
            headers["Cookie"] = f"session_id={self.cookie}"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self.conn.request("POST", path, body, headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
            ) as exc:
                # An idle keep-alive connection closed before our request: once
                # more on a new one. Closed twice: the server is gone.
                self.close()
                if attempt == 2:
                    raise Offline(repr(exc)) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise Offline(repr(exc)) from None
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie" and value.startswith("session_id="):
                self.cookie = value.split(";", 1)[0].split("=", 1)[1]
        if resp.status != 200:
            raise RpcError(f"HTTP {resp.status}")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise RpcError("not JSON") from None
        if answer.get("error"):
            data = answer["error"].get("data") or {}
            raise RpcError(
                f"{data.get('name', 'error')}: {data.get('message') or answer['error']}"
            )
        return answer.get("result")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def login(self, login="admin", password="admin"):
        result = self._post(
            "/web/session/authenticate",
            {"db": self.db, "login": login, "password": password},
        )
        if not result or not result.get("uid"):
            raise RpcError(f"login {login!r} refused")
        return result

    def call(self, model, method, *args, **kwargs):
        kwargs.setdefault("context", self.context)
        return self._post(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

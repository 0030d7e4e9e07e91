"""Local emulator of the Centrapay "next" Payment Requests API (no Odoo).

``Sandbox`` runs the HTTP server (in a daemon thread); ``SandboxControl``
drives its test-control API. Run standalone with ``python -m centrapay.sandbox``.
"""

from .control import SandboxControl, SandboxControlError
from .server import Sandbox

__all__ = ["Sandbox", "SandboxControl", "SandboxControlError"]

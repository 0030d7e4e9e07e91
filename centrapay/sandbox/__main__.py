"""``python -m centrapay.sandbox``: run the Centrapay sandbox until interrupted."""

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading

from . import barcodes
from .server import Sandbox


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m centrapay.sandbox", description="Local Centrapay API emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--state", help="JSON state file (kept across restarts)")
    parser.add_argument("--public-url", help="base URL put in Payment Request urls")
    parser.add_argument("--api-key", help="API key to accept (default: generated)")
    parser.add_argument(
        "--rate-limit", type=int, default=200, help="requests/min/account"
    )
    parser.add_argument("--webhook-url", help="URL that receives notifications")
    parser.add_argument(
        "--refund-delay",
        type=float,
        default=0.0,
        help="seconds between refund-initiated and refund-completed",
    )
    parser.add_argument(
        "--save-interval",
        type=float,
        default=0.0,
        help="with --state: save changes at most every N seconds instead of at "
        "once (a large state is slow to write; SIGTERM still saves everything)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def mask_secret(secret):
    """Enough of a secret to tell two apart, never enough to use it."""
    secret = str(secret or "")
    return f"{secret[:4]}…({len(secret)} chars)" if len(secret) > 8 else "***"


def _write_credentials(state_path, info):
    """Write ``credentials.json`` next to the state file (read by demo scripts)."""
    directory = os.path.dirname(os.path.abspath(state_path))
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "credentials.json")
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)  # holds the API key
    os.replace(tmp, path)
    return path


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        state_path=args.state,
        public_url=args.public_url,
        api_key=args.api_key,
        rate_limit=args.rate_limit,
        webhook_url=args.webhook_url,
        refund_delay_seconds=args.refund_delay,
        save_interval=args.save_interval,
    ).start()
    info = sandbox.info()
    lines = [
        "Centrapay sandbox running",
        f"  base URL            {info['base_url']}",
        # Masked: this banner ends up in logs; the credentials file (0600) has it.
        f"  API key (X-Api-Key) {mask_secret(info['api_key'])}",
        f"  merchant config id  {info['merchant_config_id']}",
        f"  merchant id         {info['merchant_id']}",
        f"  merchant account id {info['merchant_account_id']}",
        f"  JWKS URL            {info['jwks_url']}",
        f"  control API         {info['control_url']}",
        f"  pay page base       {info['public_url']}/pay/<id>",
        f"  patron barcodes     {barcodes.PATRON_BARCODE}, "
        f"{barcodes.PHOTO_ID_BARCODE} (photo-id check)",
        "  Farmlands cards     424242424 pays; 434343434 no balance, "
        "454545454 expired, 464646464 inactive",
    ]
    if args.state:
        lines.append(f"  credentials file    {_write_credentials(args.state, info)}")
    print("\n".join(lines), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A loopback SMTP sink for sesame's tests: aiosmtpd on 127.0.0.1, every message received
written as one JSON line (envelope from/to, the raw message) to --out. Prints
"listening on <port>" once ready; runs until killed.

  python3 tests/smtp/sink.py --port 0 --out /tmp/mail.jsonl
  python3 tests/smtp/sink.py --port 0 --out /tmp/mail.jsonl --auth user:pass
"""

import argparse
import json
import logging
import socket
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
        }
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def authenticator(expected):
    user, password = expected.split(":", 1)

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok)

    return check


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--auth", help="user:password to require (AUTH PLAIN/LOGIN over plain: tests only)")
    a = p.parse_args()
    # aiosmtpd logs each session's details and its own advice to stderr: the tests read files.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    port = a.port or free_port()
    kwargs = {}
    if a.auth:
        # AUTH over a plain loopback connection is what the test wants; no warning for it.
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        kwargs = {
            "authenticator": authenticator(a.auth),
            "auth_required": True,
            "auth_require_tls": False,
        }
    controller = Controller(Sink(a.out), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(f"listening on {port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())

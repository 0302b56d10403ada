#!/usr/bin/env python3
"""A real SAML service provider (pysaml2 + xmlsec1) for sesame's interop tests.

Started by the Rust test harness on a loopback port:

    pysaml2_sp.py --idp-metadata FILE --key FILE --cert FILE [--port 0]
                  [--enc-key FILE --enc-cert FILE]

With --enc-key and --enc-cert the SP holds that encryption key pair (pysaml2's
encryption_keypairs) and decrypts EncryptedAssertions with it (through xmlsec1).

It prints its base URL on the first line of stdout, then serves JSON:

    GET  /login?binding=redirect|post&sign=0|1&force=0|1&passive=0|1&relay=TEXT
               &context=CLASS-URI[,CLASS-URI...]&comparison=exact|minimum|better|maximum
         -> {"method": "GET", "url": ...} or {"method": "POST", "url": ..., "fields": {...}}
            (what a browser would be told to do; the test acts as the browser)
    POST /acs   (SAMLResponse, RelayState as a form, as the browser posts them)
         -> {"ok": true, "name_id": ..., "attributes": {...}, "relay_state": ...,
             "in_response_to": ..., "session_index": ..., "authn_context": ...,
             "encrypted": whether the Response carried an EncryptedAssertion}
         or {"ok": false, "error": "..."} with status 400
"""

import argparse
import base64
import html
import json
import re
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.response import StatusError
from saml2.saml import AuthnContextClassRef
from saml2.samlp import RequestedAuthnContext
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

OUTSTANDING = {}


def make_client(base, args):
    conf = SPConfig()
    extra = {}
    if args.enc_key:
        extra["encryption_keypairs"] = [{"key_file": args.enc_key, "cert_file": args.enc_cert}]
    conf.load(
        {
            **extra,
            "entityid": f"{base}/sp",
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(f"{base}/acs", BINDING_HTTP_POST)]
                    },
                    "allow_unsolicited": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "authn_requests_signed": False,
                }
            },
            "key_file": args.key,
            "cert_file": args.cert,
            "metadata": {"local": [args.idp_metadata]},
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "allow_unknown_attributes": True,
            "accepted_time_diff": 5,
        }
    )
    return Saml2Client(config=conf)


class Handler(BaseHTTPRequestHandler):
    client = None

    def log_message(self, *a):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/login":
            return self.reply(404, {"error": "not found"})
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        binding = BINDING_HTTP_POST if q.get("binding") == "post" else BINDING_HTTP_REDIRECT
        extra = {}
        if q.get("force") == "1":
            extra["force_authn"] = "true"
        if q.get("passive") == "1":
            extra["is_passive"] = "true"
        if q.get("context"):
            extra["requested_authn_context"] = RequestedAuthnContext(
                authn_context_class_ref=[
                    AuthnContextClassRef(text=c) for c in q["context"].split(",")
                ],
                comparison=q.get("comparison", "exact"),
            )
        sign = q.get("sign") == "1"
        reqid, info = self.client.prepare_for_authenticate(
            relay_state=q.get("relay", ""),
            binding=binding,
            sign=sign,
            sigalg=SIG_RSA_SHA256 if sign else None,
            digest_alg=DIGEST_SHA256,
            **extra,
        )
        OUTSTANDING[reqid] = "/"
        if binding == BINDING_HTTP_REDIRECT:
            location = dict(info["headers"])["Location"]
            return self.reply(200, {"method": "GET", "url": location, "id": reqid})
        page = info["data"]
        action = html.unescape(re.search(r'action="([^"]*)"', page).group(1))
        fields = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'name="([^"]*)" value="([^"]*)"', page)
        }
        return self.reply(200, {"method": "POST", "url": action, "fields": fields, "id": reqid})

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/acs":
            return self.reply(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        try:
            resp = self.client.parse_authn_request_response(
                form["SAMLResponse"], BINDING_HTTP_POST, OUTSTANDING
            )
            if resp is None:
                raise ValueError("pysaml2 returned no response")
            if resp.assertion is None:
                raise ValueError("pysaml2 found no assertion it could read")
        except StatusError as e:
            return self.reply(400, {"ok": False, "status_error": type(e).__name__, "error": str(e)})
        except Exception as e:  # noqa: BLE001 - the test reads the reason
            return self.reply(400, {"ok": False, "error": f"{type(e).__name__}: {e}"})
        authn = resp.assertion.authn_statement[0]
        encrypted = b"EncryptedAssertion" in base64.b64decode(form["SAMLResponse"])
        self.reply(
            200,
            {
                "ok": True,
                "name_id": resp.name_id.text,
                "name_id_format": resp.name_id.format,
                "attributes": resp.get_identity(),
                "relay_state": form.get("RelayState"),
                "in_response_to": resp.in_response_to,
                "session_index": authn.session_index,
                "authn_context": authn.authn_context.authn_context_class_ref.text,
                "issuer": resp.issuer(),
                "encrypted": encrypted,
            },
        )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--idp-metadata", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--enc-key")
    p.add_argument("--enc-cert")
    args = p.parse_args()
    if bool(args.enc_key) != bool(args.enc_cert):
        p.error("--enc-key and --enc-cert go together")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    Handler.client = make_client(base, args)
    print(base, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

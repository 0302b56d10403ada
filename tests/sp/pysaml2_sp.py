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
    GET  /logout?name_id=VALUE&binding=redirect|post&sign=0|1
         -> the instruction that sends this user's LogoutRequest to the IdP (SP-initiated
            Single Logout), as /login does
    GET  /slo?... and POST /slo (what the IdP sends the browser with)
         a LogoutRequest -> {"kind": "request", "logged_out": NAME-ID, "method": ..., "url": ...,
                             "fields": ...}: the LogoutResponse instruction
         a LogoutResponse -> {"kind": "response", "status": ..., "sub_status": ...}
    GET  /sessions -> {"name_ids": [...]}: the users this SP has a session for
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
# NameID text -> the NameID object of the user's session (what a LogoutRequest names).
SESSIONS = {}


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
                        "assertion_consumer_service": [(f"{base}/acs", BINDING_HTTP_POST)],
                        "single_logout_service": [
                            (f"{base}/slo", BINDING_HTTP_REDIRECT),
                            (f"{base}/slo", BINDING_HTTP_POST),
                        ],
                    },
                    "allow_unsolicited": True,
                    "want_assertions_signed": True,
                    "logout_responses_signed": True,
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

    def instruction(self, binding, info, **extra):
        """What the browser is told to do with a message, as the test (the browser) reads it."""
        if binding == BINDING_HTTP_REDIRECT:
            return {"method": "GET", "url": dict(info["headers"])["Location"], **extra}
        page = info["data"]
        action = html.unescape(re.search(r'action="([^"]*)"', page).group(1))
        fields = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'name="([^"]*)" value="([^"]*)"', page)
        }
        return {"method": "POST", "url": action, "fields": fields, **extra}

    def logout(self, q):
        name_id = SESSIONS.get(q.get("name_id", ""))
        if name_id is None:
            return self.reply(400, {"error": "no session for that NameID"})
        binding = BINDING_HTTP_POST if q.get("binding") == "post" else BINDING_HTTP_REDIRECT
        sign = q.get("sign") == "1"
        entity_ids = self.client.users.issuers_of_info(name_id)
        result = self.client.do_logout(
            name_id, entity_ids, "", None, sign=sign, expected_binding=binding,
            sign_alg=SIG_RSA_SHA256 if sign else None, digest_alg=DIGEST_SHA256,
        )
        (binding, info), = result.values()
        return self.reply(200, self.instruction(binding, info))

    def slo(self, params, binding):
        if "SAMLResponse" in params:
            try:
                resp = self.client.parse_logout_request_response(params["SAMLResponse"], binding)
            except StatusError as e:
                return self.reply(400, {"kind": "response", "status_error": str(e)})
            except Exception as e:  # noqa: BLE001 - the test reads the reason
                return self.reply(400, {"kind": "response", "error": f"{type(e).__name__}: {e}"})
            if resp is None:
                return self.reply(400, {"kind": "response", "error": "not accepted"})
            code = resp.response.status.status_code
            try:
                self.client.handle_logout_response(resp)
            except KeyError:  # an answer to a request this SP did not send (a test's own)
                pass
            for text, nid in list(SESSIONS.items()):
                try:
                    if not self.client.users.issuers_of_info(nid):
                        del SESSIONS[text]
                except KeyError:  # the person is gone from pysaml2's cache: logged out
                    del SESSIONS[text]
            return self.reply(200, {
                "kind": "response",
                "status": code.value,
                "sub_status": code.status_code.value if code.status_code else None,
            })
        try:
            req = self.client.parse_logout_request(
                params["SAMLRequest"], binding,
                relay_state=params.get("RelayState"),
                sigalg=params.get("SigAlg"), signature=params.get("Signature"),
            )
            text = req.message.name_id.text
            name_id = SESSIONS.get(text, req.message.name_id)
            info = self.client.handle_logout_request(
                params["SAMLRequest"], name_id, binding,
                sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
                relay_state=params.get("RelayState"),
                sigalg=params.get("SigAlg"), signature=params.get("Signature"),
            )
        except Exception as e:  # noqa: BLE001 - the test reads the reason
            return self.reply(400, {"kind": "request", "error": f"{type(e).__name__}: {e}"})
        SESSIONS.pop(text, None)
        out = BINDING_HTTP_POST if info.get("method") == "POST" and info.get("data") else BINDING_HTTP_REDIRECT
        return self.reply(200, self.instruction(out, info, kind="request", logged_out=text))

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        if u.path == "/logout":
            return self.logout(q)
        if u.path == "/slo":
            return self.slo(q, BINDING_HTTP_REDIRECT)
        if u.path == "/sessions":
            return self.reply(200, {"name_ids": sorted(SESSIONS)})
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
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        if path == "/slo":
            return self.slo(form, BINDING_HTTP_POST)
        if path != "/acs":
            return self.reply(404, {"error": "not found"})
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
        SESSIONS[resp.name_id.text] = resp.name_id
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

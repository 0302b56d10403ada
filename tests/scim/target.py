#!/usr/bin/env python3
"""sesame's SCIM test target: a strict SCIM 2.0 service provider (scim2-server, in memory)
behind a chain of faults that real SaaS targets show, with a log of every request.

    python3 tests/scim/target.py --port 0 --token T [--log FILE] [faults...]

prints "serving on http://127.0.0.1:PORT/" once it accepts connections.

Faults, applied in this order (all off by default):
  --delay-ms MS        every request waits MS milliseconds first (a slow, distant target)
  --basic USER:PASS    HTTP basic credentials are required instead of the bearer --token
  --throttle-every N   every Nth authenticated request answers 429 with Retry-After
                       (--retry-after S, default 1)
  --rate R             R requests per second (token bucket, burst R); past it 429 with
                       Retry-After in whole seconds
  --fail-every N       every Nth authenticated request answers 500
  --max-username N     creating or replacing a user with a longer userName answers 400
                       invalidValue (BlueJeans: 30 characters)
  --username-email     a userName that is not an e-mail address answers 400 invalidValue
                       (ThousandEyes signs users in by e-mail address)
  --stale-ms MS        filtered user searches do not see users created less than MS ago,
                       while creating them again answers 409 (an eventually consistent
                       directory)
  --no-patch           no PATCH (RFC 7644 §3.5.2 is optional for a service provider):
                       /ServiceProviderConfig says patch.supported false and any PATCH
                       answers 501; updates must be a PUT of the whole resource (§3.5.1)
  --etag-conflict      the first conditional PUT (If-Match, §3.14) to each resource answers
                       412, as if another client wrote in between (scim2-server versions
                       resources and says etag.supported true by default)
--log FILE appends one JSON object per line and request: method, path, query, status, body,
if_match (the If-Match header, or null).
"""
import argparse
import base64
import io
import json
import math
from http import HTTPStatus
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scim2_server.applications.wsgi import WSGIApplication
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.utils import load_default_provider

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class Request:
    """One request as the faults see it; `body` is the parsed JSON (or the text)."""

    def __init__(self, environ):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ["PATH_INFO"]
        self.query = environ.get("QUERY_STRING", "")
        self.raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(self.raw)
        try:
            self.body = json.loads(self.raw) if self.raw else None
        except ValueError:
            self.body = self.raw.decode("utf-8", "replace")
        self.number = 0  # set once the request is authenticated

    def writes_user(self):
        return (self.method in ("POST", "PUT") and self.path.startswith("/Users")
                and isinstance(self.body, dict))


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @staticmethod
    def error(status, detail, scim_type=None, headers=()):
        """An RFC 7644 §3.12 error response."""
        doc = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
        if scim_type:
            doc["scimType"] = scim_type
        return Reply(status, [("Content-Type", "application/scim+json"), *headers],
                     json.dumps(doc).encode())

    def json(self):
        return json.loads(self.body)

    def replace_json(self, doc):
        self.body = json.dumps(doc).encode()


# Each fault may answer in place of the server (`before`) or change its answer (`after`).
class Fault:
    def before(self, req):
        return None

    def after(self, req, reply):
        return reply


class Delay(Fault):
    def __init__(self, ms):
        self.seconds = ms / 1000

    def before(self, req):
        time.sleep(self.seconds)


class Credentials(Fault):
    def __init__(self, token, basic):
        self.expected = (f"Basic {base64.b64encode(basic.encode()).decode()}" if basic
                         else f"Bearer {token}")

    def before(self, req):
        if req.environ.get("HTTP_AUTHORIZATION") != self.expected:
            return Reply.error(401, "bad credentials")


class Counter(Fault):
    """Numbers the requests that got past the credentials, for the every-Nth faults."""

    def __init__(self):
        self.lock, self.count = threading.Lock(), 0

    def before(self, req):
        with self.lock:
            self.count += 1
            req.number = self.count


class ThrottleEvery(Fault):
    def __init__(self, n, retry_after):
        self.n, self.retry_after = n, retry_after

    def before(self, req):
        if req.number % self.n == 0:
            return Reply.error(429, "too many requests", headers=[("Retry-After", self.retry_after)])


class RateLimit(Fault):
    def __init__(self, rate):
        self.rate, self.tokens, self.at = rate, rate, time.monotonic()
        self.lock = threading.Lock()

    def before(self, req):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            wait = (1 - self.tokens) / self.rate
        return Reply.error(429, "rate limit exceeded",
                           headers=[("Retry-After", str(max(1, math.ceil(wait))))])


class FailEvery(Fault):
    def __init__(self, n):
        self.n = n

    def before(self, req):
        if req.number % self.n == 0:
            return Reply.error(500, "internal error")


class UserNameLimit(Fault):
    def __init__(self, limit):
        self.limit = limit

    def before(self, req):
        if req.writes_user() and len(req.body.get("userName", "")) > self.limit:
            return Reply.error(400, f"userName longer than {self.limit} characters",
                               "invalidValue")


class UserNameIsEmail(Fault):
    """ThousandEyes signs users in by e-mail address: a userName that is not one is refused."""

    def before(self, req):
        name = req.body.get("userName", "") if req.writes_user() else None
        if name is not None and ("@" not in name or name.startswith("@") or name.endswith("@")):
            return Reply.error(400, "userName must be the user's e-mail address", "invalidValue")


class StaleSearch(Fault):
    def __init__(self, ms):
        self.seconds, self.created, self.lock = ms / 1000, {}, threading.Lock()

    def after(self, req, reply):
        if req.method == "POST" and req.path == "/Users" and reply.status == 201:
            with self.lock:
                self.created.setdefault(req.body.get("userName", "").lower(), time.monotonic())
        elif req.method == "GET" and req.path == "/Users" and "filter=" in req.query:
            now = time.monotonic()
            with self.lock:
                fresh = {n for n, t in self.created.items() if now - t < self.seconds}
            doc = reply.json()
            kept = [r for r in doc.get("Resources", [])
                    if r.get("userName", "").lower() not in fresh]
            doc["Resources"] = kept
            doc["totalResults"] = doc["itemsPerPage"] = len(kept)
            reply.replace_json(doc)
        return reply


class NoPatch(Fault):
    def before(self, req):
        if req.method == "PATCH":
            return Reply.error(501, "PATCH is not implemented")

    def after(self, req, reply):
        if req.method == "GET" and req.path == "/ServiceProviderConfig" and reply.status == 200:
            doc = reply.json()
            doc["patch"] = {"supported": False}
            reply.replace_json(doc)
        return reply


class EtagConflict(Fault):
    def __init__(self):
        self.seen, self.lock = set(), threading.Lock()

    def before(self, req):
        if req.method != "PUT" or "HTTP_IF_MATCH" not in req.environ:
            return None
        with self.lock:
            if req.path in self.seen:
                return None
            self.seen.add(req.path)
        return Reply.error(412, "the resource changed since it was read")


def faults_from(a):
    chain = [Delay(a.delay_ms)] if a.delay_ms else []
    chain += [Credentials(a.token, a.basic), Counter()]
    if a.throttle_every:
        chain.append(ThrottleEvery(a.throttle_every, a.retry_after))
    if a.rate:
        chain.append(RateLimit(a.rate))
    if a.fail_every:
        chain.append(FailEvery(a.fail_every))
    if a.max_username:
        chain.append(UserNameLimit(a.max_username))
    if a.username_email:
        chain.append(UserNameIsEmail())
    if a.stale_ms:
        chain.append(StaleSearch(a.stale_ms))
    if a.no_patch:
        chain.append(NoPatch())
    if a.etag_conflict:
        chain.append(EtagConflict())
    return chain


def call(inner, environ):
    """Runs the SCIM server on one request and returns its whole answer."""
    seen = {}

    def start(status, headers, exc_info=None):
        seen["status"], seen["headers"] = int(status.split()[0]), headers
        return lambda data: None

    body = b"".join(inner(environ, start))
    headers = [(k, v) for k, v in seen["headers"] if k.lower() != "content-length"]
    return Reply(seen["status"], headers, body)


class RequestLog:
    def __init__(self, path):
        self.path, self.lock = path, threading.Lock()

    def write(self, req, reply):
        if not self.path:
            return
        line = json.dumps({"method": req.method, "path": req.path, "query": req.query,
                           "status": reply.status, "body": req.body,
                           "if_match": req.environ.get("HTTP_IF_MATCH")})
        with self.lock, open(self.path, "a") as f:
            f.write(line + "\n")


def application(inner, chain, log):
    def app(environ, start_response):
        req = Request(environ)
        reply, ran = None, []
        for fault in chain:
            reply = fault.before(req)
            if reply is not None:
                break
            ran.append(fault)
        if reply is None:
            reply = call(inner, environ)
            for fault in reversed(ran):
                reply = fault.after(req, reply)
        log.write(req, reply)
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", [*reply.headers, ("Content-Length", str(len(reply.body)))])
        return [reply.body]
    return app


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default="secret")
    p.add_argument("--log", default="")
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--basic", default="")
    p.add_argument("--throttle-every", type=int, default=0)
    p.add_argument("--retry-after", default="1")
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--fail-every", type=int, default=0)
    p.add_argument("--max-username", type=int, default=0)
    p.add_argument("--username-email", action="store_true")
    p.add_argument("--stale-ms", type=int, default=0)
    p.add_argument("--no-patch", action="store_true")
    p.add_argument("--etag-conflict", action="store_true")
    a = p.parse_args()

    provider = load_default_provider()
    inner = WSGIApplication(InMemoryStorage(), provider, ScimService(provider))
    app = application(inner, faults_from(a), RequestLog(a.log))
    server = make_server("127.0.0.1", a.port, app, server_class=Server, handler_class=Quiet)
    print(f"serving on http://127.0.0.1:{server.server_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

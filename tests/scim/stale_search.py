#!/usr/bin/env python3
"""scim2-server (in memory) whose search lags behind its writes, as eventually consistent
SaaS directories do: a user created less than --stale-ms ago is missing from filtered
GET /Users answers, while creating it again still answers 409 uniqueness. Used to test the
bridge's 409 path (look up again and link, never duplicate).

Run: stale_search.py --port 0 --token T --stale-ms 1500 [--log FILE]
Prints "serving on http://127.0.0.1:PORT/" once it accepts connections; --log appends one
JSON line per request (method, path, query, status, body) like faulty_scim.py.
"""
import argparse
import io
import json
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scim2_server.applications.wsgi import WSGIApplication
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.utils import load_default_provider


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default="secret")
    p.add_argument("--stale-ms", type=int, default=1500)
    p.add_argument("--log", default="")
    a = p.parse_args()
    provider = load_default_provider()
    inner = WSGIApplication(InMemoryStorage(), provider, ScimService(provider))
    created, lock = {}, threading.Lock()

    def app(environ, start):
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        body = json.loads(raw) if raw else None
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {a.token}":
            start("401 Unauthorized", [("Content-Type", "application/scim+json")])
            return [b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401"}']
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return lambda data: None

        out = b"".join(inner(environ, capture))
        method, path, query = environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        status = int(seen["status"].split()[0])
        if method == "POST" and path == "/Users" and status == 201:
            with lock:
                created.setdefault(body.get("userName", "").lower(), time.monotonic())
        if method == "GET" and path == "/Users" and "filter=" in query:
            doc = json.loads(out)
            now = time.monotonic()
            with lock:
                fresh = {n for n, t in created.items() if (now - t) * 1000 < a.stale_ms}
            kept = [r for r in doc.get("Resources", []) if r.get("userName", "").lower() not in fresh]
            if len(kept) != len(doc.get("Resources", [])):
                doc["Resources"], doc["totalResults"] = kept, len(kept)
                doc["itemsPerPage"] = len(kept)
                out = json.dumps(doc).encode()
        headers = [(k, v) for k, v in seen["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(out))))
        start(seen["status"], headers)
        if a.log:
            entry = {"method": method, "path": path, "query": query, "status": status, "body": body}
            with lock, open(a.log, "a") as f:
                f.write(json.dumps(entry) + "\n")
        return [out]

    server = make_server("127.0.0.1", a.port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    print(f"serving on http://127.0.0.1:{server.server_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

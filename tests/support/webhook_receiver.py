"""A real webhook receiver for tests/webhooks.rs: Python's http.server on 127.0.0.1.

It checks every request's X-Switchboard-Signature with Python's own hmac (independent of the
Rust code that signed it): t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>, t within
--tolerance seconds. A valid request is appended to --out as one JSON line (event id, type,
body) and fsynced BEFORE the 200 goes out, so everything acknowledged is on disk; a kill
between the two makes the sender try again (a repeat the test dedups by event id). An invalid
signature is answered 401 and recorded with "bad_signature": true. --fail-first N answers the
first N valid requests 500 (recorded as "refused"). Prints "ready" once it listens.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def check(secret, header, body, tolerance):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t = int(parts.get("t", "x")) if parts.get("t", "").isdigit() else None
    if t is None or "v1" not in parts or abs(time.time() - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--tolerance", type=int, default=300)
    args = ap.parse_args()
    lock = threading.Lock()
    state = {"fail_left": args.fail_first}

    def record(line):
        with lock, open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            event_id = self.headers.get("X-Switchboard-Event-Id", "")
            signature = self.headers.get("X-Switchboard-Signature", "")
            if not check(args.secret, signature, body, args.tolerance):
                record({"event_id": event_id, "bad_signature": True})
                self.send_response(401)
                self.end_headers()
                return
            with lock:
                refuse = state["fail_left"] > 0
                state["fail_left"] -= 1 if refuse else 0
            if refuse:
                record({"event_id": event_id, "refused": True})
                self.send_response(500)
                self.end_headers()
                return
            record({
                "event_id": event_id,
                "type": self.headers.get("X-Switchboard-Event", ""),
                "attempt": self.headers.get("X-Switchboard-Attempt", ""),
                "body": body.decode(),
            })
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_):
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

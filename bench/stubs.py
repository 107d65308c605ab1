#!/usr/bin/env python3
"""The two outside services Greenlight talks to, as loopback stubs.

    stubs.py approvers PORT        approvers API (the challenge's mock)
    stubs.py smtp PORT LOG.jsonl   SMTP sink that records each message
    stubs.py receiver PORT LOG.jsonl   HTTP sink for webhooks and Azure
                                   DevOps callbacks: one JSON line per POST

`approvers` answers GET /<anything> with three approvers, and GET /fail/...
with 404, which Greenlight treats as a permanent failure (the release fails
after one attempt): the bench uses that to measure the request path with
as little background work as possible.

`smtp` accepts every message and appends one JSON line per message to LOG:
the arrival time (time.time(), taken when the message is accepted, i.e. just
before the 250 answer to DATA), its Message-ID and Subject. The bench reads
that file to time releases end to end.
"""

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APPROVERS = json.dumps(
    {"approvers": ["a1@example.com", "a2@example.com", "a3@example.com"]}
).encode()


class ApproversHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps reqwest's connections alive, as a real API would.
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/fail"):
            self._answer(404, b'{"error":"no such project"}')
        else:
            self._answer(200, APPROVERS)

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet: thousands of requests per run
        pass


def serve_approvers(port):
    server = ThreadingHTTPServer(("127.0.0.1", port), ApproversHandler)
    server.daemon_threads = True
    print(f"approvers stub on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


class ReceiverHandler(BaseHTTPRequestHandler):
    """Takes every POST (a webhook, an Azure DevOps TaskCompleted, Slack's
    chat.postMessage and chat.update) and logs its arrival time, path and
    body."""

    protocol_version = "HTTP/1.1"
    out = None
    lock = threading.Lock()

    def do_POST(self):
        arrived = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        line = json.dumps({"t": arrived, "path": self.path, "body": body.decode("utf-8", "replace")})
        with self.lock:
            self.out.write(line + "\n")
        answer = b""
        if self.path.startswith("/slack/"):
            # Slack's Web API answers 200 with `ok`; chat.postMessage also
            # names the message (channel and ts) that chat.update edits.
            answer = json.dumps({"ok": True, "channel": "C0BENCH", "ts": f"{arrived:.6f}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def serve_receiver(port, path):
    ReceiverHandler.out = open(path, "a", buffering=1)
    server = ThreadingHTTPServer(("127.0.0.1", port), ReceiverHandler)
    server.daemon_threads = True
    print(f"receiver stub on 127.0.0.1:{port}, log {path}", flush=True)
    server.serve_forever()


HEADER = re.compile(rb"^(subject|message-id):[ \t]*(.*)$", re.I | re.M)


class Recorder:
    """aiosmtpd handler: one JSON line per accepted message."""

    def __init__(self, path):
        self.out = open(path, "a", buffering=1)  # line-buffered: readers see whole lines
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        arrived = time.time()
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        head = raw.split(b"\r\n\r\n", 1)[0]
        head = re.sub(rb"\r\n[ \t]+", b" ", head)  # unfold folded headers
        fields = {k.lower(): v.strip().decode("utf-8", "replace") for k, v in HEADER.findall(head)}
        line = json.dumps(
            {
                "t": arrived,
                "message_id": fields.get(b"message-id"),
                "subject": fields.get(b"subject"),
                "rcpt": envelope.rcpt_tos,
            }
        )
        with self.lock:
            self.out.write(line + "\n")
        return "250 OK"


def serve_smtp(port, path):
    from aiosmtpd.controller import Controller

    controller = Controller(Recorder(path), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"SMTP sink on 127.0.0.1:{port}, log {path}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["approvers"]:
        serve_approvers(int(sys.argv[2]))
    elif sys.argv[1:2] == ["smtp"]:
        serve_smtp(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:2] == ["receiver"]:
        serve_receiver(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)

"""A Slack incoming webhook on 127.0.0.1: it keeps what was posted, or fails on purpose (HTTP 500, too slow, a
redirect elsewhere)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Behaviour = Literal["ok", "error", "slow", "redirect"]
FOLLOWED = "/followed"  # where a redirect points: a request here means a client followed it


class SlackCatcher:
    """``with SlackCatcher() as slack: ... slack.url ... slack.payloads``. ``behaviour`` can change at any time."""

    def __init__(self, behaviour: Behaviour = "ok", slow_seconds: float = 6.0) -> None:
        self.behaviour: Behaviour = behaviour
        self.slow_seconds = slow_seconds
        self.payloads: list[dict[str, Any]] = []
        self.followed = 0  # requests that came to FOLLOWED after a redirect
        self._stop = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == FOLLOWED:
                    self.do_GET()
                    return
                if catcher.behaviour == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{catcher.server.server_port}{FOLLOWED}")
                    self.end_headers()
                    return
                if catcher.behaviour == "slow":
                    catcher._stop.wait(catcher.slow_seconds)
                if catcher.behaviour == "error":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"internal_error")
                    return
                catcher.payloads.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:
                if self.path == FOLLOWED:
                    catcher.followed += 1
                self.send_response(404 if self.path != FOLLOWED else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # Shaped like a real webhook path; the token part is what must never leak.
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0DEMO/B0DEMO/s3cr3t{int(time.time())}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlackCatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

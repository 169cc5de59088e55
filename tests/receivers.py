"""A scriptable webhook receiver on 127.0.0.1 for the delivery and CLI tests.

It records every request (method, headers, body, arrival time), checks the
``Driftwatch-Signature`` with `driftwatch.service.webhooks.verify` on the body as
received and on a tampered copy, and answers what the test scripts: a status,
extra headers, and an optional delay before answering (cut short when the
receiver stops, so a test never waits for a slow answer it no longer needs).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from driftwatch.service.webhooks import SIGNATURE_HEADER, verify

__all__ = ["Received", "Receiver", "Reply"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    body: bytes = b""


@dataclass
class Received:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]  # lower-case names
    at: float  # time.monotonic() on arrival
    valid: bool  # the signature verifies on the body as received
    tampered_valid: bool  # the same signature verifies on a modified body (it must not)
    status: int = 0  # set once ``reply`` has decided (0 while it is still deciding)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


def tamper(body: bytes) -> bytes:
    """The body with one byte changed, as a man in the middle would."""
    if not body:
        return b" "
    return body[:-1] + bytes([body[-1] ^ 0x01])


class Receiver:
    """``reply(attempt)`` (1-based) says how to answer; an int is a bare status."""

    def __init__(
        self,
        secret: bytes | None = None,
        reply: Callable[[int], Reply | int] = lambda attempt: 200,
        port: int = 0,
    ) -> None:
        self.secret = secret
        self.reply = reply
        self.received: list[Received] = []
        self._closing = threading.Event()
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signature = self.headers.get(SIGNATURE_HEADER, "")
                now = time.time()
                key = receiver.secret or b""
                with receiver._arrived:
                    attempt = len(receiver.received) + 1
                    request = Received(
                        method=self.command,
                        path=self.path,
                        body=body,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        at=time.monotonic(),
                        valid=verify(key, body, signature, now),
                        tampered_valid=verify(key, tamper(body), signature, now),
                    )
                    receiver.received.append(request)
                    receiver._arrived.notify_all()
                answer = receiver.reply(attempt)  # recorded first, so a test can see a held request
                if isinstance(answer, int):
                    answer = Reply(answer)
                request.status = answer.status
                if answer.delay:
                    receiver._closing.wait(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up waiting (a timeout test)

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/retrain"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` requests, once they have arrived."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} request(s), got {len(self.received)}")
                self._arrived.wait(left)
            return list(self.received[:count])

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

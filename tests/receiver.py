"""A real local HTTP receiver for webhook tests and the benchmark.

    receiver = WebhookReceiver(); receiver.start()
    receiver.url("/hooks")                       # http://127.0.0.1:<port>/hooks
    receiver.script("/hooks", [Reply(500), Reply(503, headers={"Retry-After": "120"}), Reply(200)])
    receiver.wait_for(3)                         # block until 3 requests arrived (or time out)
    receiver.requests                            # every Request received, in order

Scripted replies are used one per request to that path, in order; after the script runs out (or for
paths without one) the receiver answers `default` (200). A Reply can delay before answering (to
provoke timeouts or keep a request in flight), redirect (status 3xx with a Location header), or
carry Retry-After. HTTP/1.1 with keep-alive, like a real receiver, so connection reuse is exercised.
"""
import collections
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict          # lower-cased names
    body: bytes
    received_at: float     # time.time() when the body was read

    @property
    def webhook_id(self):
        return self.headers.get("webhook-id")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        reply = receiver._record_and_pick(request)
        if reply.delay:
            if receiver._stopping.wait(reply.delay):
                return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the sender gave up (timeout) before we answered

    do_PUT = do_POST
    do_GET = do_POST

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class WebhookReceiver:
    def __init__(self, host="127.0.0.1", port=0, default=None, keep_bodies=True):
        self.server = _Server((host, port), _Handler)
        self.server.receiver = self
        self.host, self.port = self.server.server_address[:2]
        self.default = default or Reply()
        self.keep_bodies = keep_bodies
        self.requests = []
        self._scripts = collections.defaultdict(collections.deque)
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self.thread = None

    def url(self, path="/hooks"):
        return f"http://{self.host}:{self.port}{path}"

    def script(self, path, replies):
        with self._condition:
            self._scripts[path].extend(replies)

    def _record_and_pick(self, request):
        with self._condition:
            if not self.keep_bodies:
                request.body = b""
            self.requests.append(request)
            self._condition.notify_all()
            script = self._scripts.get(request.path)
            return script.popleft() if script else self.default

    def received(self, path=None):
        with self._condition:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count, timeout=15, path=None):
        """Block until at least count requests (to path, if given) arrived; returns them."""
        with self._condition:
            self._condition.wait_for(lambda: len([r for r in self.requests if path is None or r.path == path]) >= count, timeout)
        return self.received(path)

    def wait_until(self, predicate, timeout=15):
        with self._condition:
            return self._condition.wait_for(lambda: predicate(self.requests), timeout)

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        if self.thread:
            self.thread.join(5)

"""Real local servers for tests: SMTP (aiosmtpd) and the app over HTTP (werkzeug in a thread)."""
import contextvars
import email
import email.policy
import socket
import threading

from aiosmtpd.controller import Controller
from werkzeug.serving import make_server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collector:
    def __init__(self):
        self.messages = []
        self.received = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.received:
            self.messages.append(message)
            self.received.notify_all()
        return "250 OK"


class SmtpServer:
    def __init__(self, port=None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.handler = _Collector()
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def wait_for(self, count, timeout=10):
        """Block until at least count messages arrived; returns the messages."""
        with self.handler.received:
            self.handler.received.wait_for(lambda: len(self.handler.messages) >= count, timeout)
        return self.handler.messages


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)

    def start(self):
        # An empty context: requests must not see the test's own app context.
        self.thread = threading.Thread(target=contextvars.Context().run, args=(self.server.serve_forever,), daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)

"""Real local servers for SSO tests: a DNS server (UDP, dnspython's own message building) answering TXT
queries, and a small HTTP server that plays the IdP's web side (metadata URL, login page)."""
import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    """Answers TXT queries from self.txt ({name: [strings]}); NXDOMAIN for anything else."""

    def __init__(self):
        self.txt = {}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            response = dns.message.make_response(query)
            values = self.txt.get(name)
            if values and question.rdtype == dns.rdatatype.TXT:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT",
                                                           *[f'"{value}"' for value in values]))
            elif not values:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)


class IdpWebServer:
    """The IdP's HTTP side: GET <paths> serves fixed bodies (metadata); GET /sso shows a login page
    whose button posts a signed response (made by on_login(redirect_url)) to the SP's ACS."""

    def __init__(self, tls=False):
        self.pages = {}
        self.requests = []  # the path of every GET, in order
        self.on_login = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = urlsplit(self.path).path
                server.requests.append(path)
                if path == "/sso" and server.on_login is not None:
                    acs, saml_response, relay_state = server.on_login(self.path)
                    body = (f"<!doctype html><html><head><title>Test IdP</title></head><body><h1>Test IdP</h1>"
                            f"<form method='post' action='{html.escape(acs)}'>"
                            f"<input type='hidden' name='SAMLResponse' value='{html.escape(saml_response)}'>"
                            f"<input type='hidden' name='RelayState' value='{html.escape(relay_state)}'>"
                            f"<button type='submit' id='idp_continue'>Continue as the signed-in user</button>"
                            f"</form></body></html>").encode()
                    return self._send(200, "text/html", body)
                if path in server.pages:
                    status, content_type, body = server.pages[path]
                    return self._send(status, content_type, body.encode() if isinstance(body, str) else body)
                return self._send(404, "text/plain", b"not found")

            def _send(self, status, content_type, body):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            # HTTPS like a real IdP: our pages' CSP (form-action 'self' https:) lets a form's redirect
            # go to an https IdP only. The certificate is self-signed, made now; the browser is told
            # to accept it.
            scheme = "https"
            self.httpd.socket = _tls_context().wrap_socket(self.httpd.socket, server_side=True)
        self.base_url = f"{scheme}://localhost:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _tls_context():
    import os
    import ssl
    import tempfile

    from tests.sso.idp import make_key_pair
    key_pem, cert_pem = make_key_pair("localhost")
    folder = tempfile.mkdtemp(prefix="orgkit-idp-tls-")
    key_path, cert_path = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
    with open(key_path, "w") as f:
        f.write(key_pem)
    with open(cert_path, "w") as f:
        f.write(cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context

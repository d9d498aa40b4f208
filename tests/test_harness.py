"""The harness itself: the shared real servers work (so a failure elsewhere is not the harness)."""
import smtplib
import urllib.request
from email.message import EmailMessage


def test_smtp_server_receives_mail(smtp_server):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hello"
    message.set_content("body")
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as smtp:
        smtp.send_message(message)
    received = smtp_server.wait_for(1)
    assert received[0]["Subject"] == "Hello"


def test_live_server_serves_the_app(live_server):
    with urllib.request.urlopen(f"{live_server.url}/login") as response:
        assert response.status == 200
        assert b"Log in to Orgkit" in response.read()

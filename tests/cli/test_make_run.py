"""`make run` on a chosen port, and one clear line when that port is taken."""
import socket
import subprocess
from pathlib import Path

import cli

ROOT = Path(__file__).resolve().parents[2]


def test_a_taken_port_gets_one_line_naming_the_next_one():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        message = cli.port_busy_message("127.0.0.1", port)
    assert message.splitlines() == [message]
    assert f"Port {port} is in use" in message and f"make run PORT={port + 1}" in message


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert cli.port_busy_message("127.0.0.1", port) is None


def test_make_run_serves_checks_and_links_the_port_it_was_given():
    plan = subprocess.run(["make", "-n", "run", "PORT=5123"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    commands = plan.stdout
    assert "port_busy_message('127.0.0.1', 5123)" in commands
    assert commands.index("port_busy_message") < commands.index("db upgrade")   # before anything starts
    assert "--port 5123" in commands and "http://127.0.0.1:5123" in commands
    assert "5000" not in commands

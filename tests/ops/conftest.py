"""Fixtures for the operations tests (logs, retention, faults)."""
import io
import json
import logging

import pytest

import logs


class CapturedLines:
    """Every line the app's log handler wrote, as it would reach the operator's log collector."""

    def __init__(self, stream):
        self.stream = stream

    @property
    def text(self):
        return self.stream.getvalue()

    def json_lines(self):
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def log_output():
    """Install the production log handler (LOG_FORMAT=json) on the root logger for one test."""
    def _install(log_format="json"):
        stream = io.StringIO()
        handler = logs.configure(log_format, "INFO", stream=stream)
        installed.append(handler)
        return CapturedLines(stream)

    installed = []
    root = logging.getLogger()
    level = root.level
    yield _install
    for handler in installed:
        root.removeHandler(handler)
    root.setLevel(level)

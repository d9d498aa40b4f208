"""Loaded by the Python processes the suite starts (tests/conftest.py puts this folder on PYTHONPATH):
they get the same network guard as the test process."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("orgkit_network_guard", Path(__file__).with_name("network_guard.py"))
_guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_guard)
_guard.install()

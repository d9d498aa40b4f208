"""Fixtures of the fault tests: private servers that the test may break (never the shared ones)."""
import pytest

from tests.faults.processes import PrivatePostgres, PrivateRedis


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres():
    try:
        cluster = PrivatePostgres().init().start()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot run a private PostgreSQL cluster here: {exc}")
    yield cluster
    cluster.destroy()


@pytest.fixture
def processes(tmp_path):
    """Start Orgkit processes with processes.web(**env) / processes.worker(**env); all stopped after."""
    from tests.faults.processes import WebProcess, WorkerProcess

    started = []

    class Processes:
        def web(self, **env):
            started.append(WebProcess(tmp_path, **env).start())
            return started[-1]

        def worker(self, **env):
            started.append(WorkerProcess(tmp_path, **env).start())
            return started[-1]

    yield Processes()
    for process in reversed(started):
        process.stop()

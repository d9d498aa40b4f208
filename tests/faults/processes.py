"""Private servers and Orgkit processes for the fault tests.

Other people's processes share this machine's Redis (6379) and PostgreSQL (5432), so the fault tests
never stop or flush those: they start their own redis-server and PostgreSQL cluster on free ports,
break those, and kill only the processes they started (by the Popen handle, never by name).
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from redis import Redis

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_until(check, timeout=60.0, interval=0.05, what="condition"):
    """Poll check() until it returns something truthy; fail the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # the thing we wait for is not up yet
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _stop(process, sig=signal.SIGTERM, timeout=10):
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class PrivateRedis:
    """A throwaway redis-server (no persistence) on a free port; stop() and start() again at will."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        wait_until(client.ping, what="private redis-server")
        client.close()
        return self

    def stop(self):
        _stop(self.process)
        self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in a temp dir as the postgres OS user), on a free port."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins or shutil.which("runuser") is None:
            raise RuntimeError("PostgreSQL server binaries or runuser not found")
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="orgkit-pg-"))
        self.data = self.dir / "data"
        shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args, timeout=60):
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, args)], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)

    def init(self):
        self._as_postgres(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self):
        # fsync off: a test cluster whose data we throw away; the socket in our own dir, not /var/run.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.dir / "log", "-w", "start")
        return self

    def stop(self):
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def _env(**overrides):
    # PYTHONPATH keeps what tests/conftest.py put there (the network guard's sitecustomize).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "LOG_FORMAT": "json"}
    env.update({key: str(value) for key, value in overrides.items() if value is not None})
    return env


class WebProcess:
    """Orgkit over HTTP in its own process (tests/faults/serve_app.py), as a deployment runs it."""

    def __init__(self, log_dir, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"web-{self.port}.log"
        self.env = _env(PORT=self.port, **env)
        self.process = None
        self.http = requests.Session()

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faults" / "serve_app.py")],
                                            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.http.get(self.url + "/healthz", timeout=2).ok, what="the web process")
        return self

    def get(self, path, **kwargs):
        return self.http.get(self.url + path, timeout=10, allow_redirects=False, **kwargs)

    def post(self, path, data, **kwargs):
        return self.http.post(self.url + path, data=data, timeout=10, allow_redirects=False, **kwargs)

    def login(self, email, password):
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code in (302, 303), response.text[:500]
        return response

    def stop(self):
        _stop(self.process)

    @property
    def log(self):
        return self.log_path.read_text()


class WorkerProcess:
    """`python worker.py` (RQ worker plus its sweeper) in its own process."""

    def __init__(self, log_dir, **env):
        self.log_path = Path(log_dir) / f"worker-{free_port()}.log"
        self.env = _env(**env)
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "worker.py")],
                                            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self):
        """SIGKILL: no cleanup, no finally blocks, exactly like an OOM kill or a lost machine."""
        self.process.kill()
        self.process.wait(5)

    def stop(self):
        _stop(self.process)

    @property
    def log(self):
        return self.log_path.read_text()

"""DynamoDB Local (AWS's own engine, a Java program) as a child process of the sandbox or the tests.

``DynamoDBLocal`` starts one server, waits until it answers, and stops exactly that process again::

    with DynamoDBLocal() as ddb:                      # in memory, on a free port
        client = local_client("dynamodb", ddb.endpoint)
        ensure_table(client, "mailroom")

The jar comes from ``make setup`` (``scripts/install_dynamodb_local.sh``); Java from the system.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = ["DEFAULT_INSTALL_DIR", "DynamoDBLocal", "local_client"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INSTALL_DIR = REPO_ROOT / ".cache" / "dynamodb-local"
INSTALL_DIR_ENV = "MAILROOM_DYNAMODB_LOCAL_DIR"
JAR_NAME = "DynamoDBLocal.jar"
LIB_DIR_NAME = "DynamoDBLocal_lib"

# A sandbox's DynamoDB Local runs with the JVM's quick compiler only: starting it and serving its
# first requests costs about half the CPU, and it was still cheaper after 6,000 simple requests
# (`make bench`: ``dynamodb_local_jvm``); the suite starts a dozen sandboxes on two cores. Over a
# long, transaction-heavy life the optimising compiler seems to pay off: the suite's session-long
# server (tests/conftest.py) ran its tests slower with the quick compiler in CI, so it keeps the
# JVM's defaults.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("local", "local")

# One botocore session for every local client: it caches the service models, so a client costs
# ~10 ms instead of ~150 ms. Created lazily (a Session reads AWS_PROFILE and config files).
_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def local_client(service: str, endpoint: str, *, read_timeout: float = 30.0, max_attempts: int = 3) -> Any:
    """A boto3 client (``dynamodb`` or ``dynamodbstreams``) for DynamoDB Local at ``endpoint``.

    Dummy credentials and a fixed region: DynamoDB Local runs with ``-sharedDb``, so neither matters,
    but the SDK insists on both. Retries are few and timeouts short: the server is on this machine.
    """
    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=2,
        read_timeout=read_timeout,
        # Keep-alive connections per client; handlers and the poller share a few clients.
        max_pool_connections=20,
    )
    global _session  # noqa: PLW0603
    with _session_lock:  # creating clients from one Session is not thread-safe
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            service,
            region_name=LOCAL_REGION,
            aws_access_key_id=LOCAL_CREDENTIALS[0],
            aws_secret_access_key=LOCAL_CREDENTIALS[1],
            endpoint_url=endpoint,
            config=config,
        )


def _port_in_use(port: int) -> bool:
    """DynamoDB Local listens on every interface: try to bind the port the same way."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DynamoDBLocal:
    """One DynamoDB Local server: in memory (``db_path=None``) or persisted under ``db_path``."""

    START_TIMEOUT = 120.0  # a JVM on a busy two-core machine can take that long
    STOP_TIMEOUT = 10.0

    def __init__(
        self,
        *,
        port: int | None = None,
        db_path: Path | None = None,
        install_dir: Path | None = None,
        log_path: Path | None = None,
        jvm_options: tuple[str, ...] = JVM_OPTIONS,
    ) -> None:
        self._requested_port = port
        self.jvm_options = jvm_options
        self._port: int | None = port
        self.db_path = Path(db_path) if db_path is not None else None
        self._install_dir = Path(install_dir) if install_dir is not None else None
        self._log_path_arg = Path(log_path) if log_path is not None else None
        self.log_path: Path | None = None
        self._temp_log_dir: tempfile.TemporaryDirectory[str] | None = None
        self._log_file: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- properties -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("DynamoDB Local has no port yet: call start() first")
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> DynamoDBLocal:
        """Start the server and return once it answers ``ListTables``. Raises RuntimeError if not."""
        if self._process is not None:
            raise RuntimeError(f"DynamoDB Local already started (pid {self._process.pid})")
        java = shutil.which("java")
        if java is None:
            raise RuntimeError(
                "DynamoDB Local needs a Java runtime (11 or newer) and `java` is not on PATH. Install one, "
                "e.g. `sudo apt-get install default-jre-headless` (Debian/Ubuntu) or "
                "`brew install openjdk` (macOS), or run `make setup`."
            )
        install_dir = self._find_install_dir()
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        self._open_log()
        # A free port picked here can be taken before Java binds it: then try another one.
        attempts = 3 if self._requested_port is None else 1
        for attempt in range(1, attempts + 1):
            if self._requested_port is None:
                self._port = _free_port()
            elif _port_in_use(self._requested_port):
                # Checked first: the readiness probe would otherwise reach whatever already listens.
                self._close_log()
                raise RuntimeError(
                    f"port {self._requested_port} is already in use; cannot start DynamoDB Local there "
                    "(pass port=None to pick a free port)"
                )
            self._spawn(java, install_dir)
            try:
                self._wait_ready()
                return self
            except RuntimeError:
                port_taken = "Address already in use" in self._log_tail()
                self._terminate()
                if not (port_taken and attempt < attempts):
                    self._close_log()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop the server this object started (SIGTERM, then SIGKILL after a timeout)."""
        self._terminate()
        self._close_log(remove_temp=True)

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _find_install_dir(self) -> Path:
        candidates: list[Path] = []
        if self._install_dir is not None:
            candidates.append(self._install_dir)
        elif os.environ.get(INSTALL_DIR_ENV):
            candidates.append(Path(os.environ[INSTALL_DIR_ENV]))
        else:
            candidates.append(DEFAULT_INSTALL_DIR)
        for directory in candidates:
            if (directory / JAR_NAME).is_file():
                return directory.resolve()
        looked = ", ".join(str(d / JAR_NAME) for d in candidates)
        raise RuntimeError(f"DynamoDB Local is not installed (no {looked}). Run `make setup` to install it.")

    def _open_log(self) -> None:
        if self._log_path_arg is not None:
            self.log_path = self._log_path_arg
        elif self.db_path is not None:
            self.log_path = self.db_path / "dynamodb-local.log"
        else:
            self._temp_log_dir = tempfile.TemporaryDirectory(prefix="mailroom-dynamodb-local-")
            self.log_path = Path(self._temp_log_dir.name) / "dynamodb-local.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")

    def _close_log(self, *, remove_temp: bool = False) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if remove_temp and self._temp_log_dir is not None:
            self._temp_log_dir.cleanup()
            self._temp_log_dir = None
            self.log_path = None

    def _command(self, java: str, install_dir: Path) -> list[str]:
        command = [
            java,
            *self.jvm_options,
            f"-Djava.library.path={install_dir / LIB_DIR_NAME}",
            "-jar",
            str(install_dir / JAR_NAME),
            "-disableTelemetry",
            "-port",
            str(self.port),
            "-sharedDb",
        ]
        if self.db_path is None:
            command.append("-inMemory")
        else:
            command += ["-dbPath", str(self.db_path.resolve())]
        return command

    def _spawn(self, java: str, install_dir: Path) -> None:
        assert self._log_file is not None
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            self._command(java, install_dir),
            cwd=str(install_dir),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a Ctrl-C in the terminal is ours to handle
        )
        atexit.register(self._terminate)

    def _wait_ready(self) -> None:
        assert self._process is not None
        client = local_client("dynamodb", self.endpoint, read_timeout=5, max_attempts=1)
        deadline = time.monotonic() + self.START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(
                    f"DynamoDB Local exited with status {code} while starting on port {self.port}.\n"
                    f"Log ({self.log_path}):\n{self._log_tail()}"
                )
            try:
                client.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
            time.sleep(0.1)
        raise RuntimeError(
            f"DynamoDB Local did not answer on {self.endpoint} within {self.START_TIMEOUT:.0f} s "
            f"(last error: {last_error}).\nLog ({self.log_path}):\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 30) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self._terminate)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self.STOP_TIMEOUT)

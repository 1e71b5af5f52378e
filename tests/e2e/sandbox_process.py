"""Start ``mailroom sandbox`` as a real subprocess, as a person would, and talk to it over the wire."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailroom.auth.tokens import issue_token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> set[int]:
    """Every descendant process id (Linux /proc)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    pending.append(kid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class SandboxProcess:
    data_dir: Path
    demo: bool = False
    smtp_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()  # more `mailroom sandbox` options, e.g. ("--api-workers", "1")
    env: dict[str, str] = field(default_factory=dict)  # MAILROOM_* settings for this sandbox only

    def start(self, timeout: float = 180.0) -> SandboxProcess:
        self.log_path = self.data_dir.parent / f"sandbox-{self.http_port}.log"
        args = [
            sys.executable, "-m", "mailroom.cli", "sandbox",
            "--smtp-port", str(self.smtp_port), "--http-port", str(self.http_port),
            "--data-dir", str(self.data_dir), "--domain", "acme.test",
            "--demo" if self.demo else "--no-demo", *self.extra_args,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited early:\n{self.log()}")
            try:
                self.get("/api/conversations")
                return self
            except OSError:
                time.sleep(0.2)
        self.kill()  # nobody gets a handle on a sandbox that never answered: stop what we started
        raise TimeoutError(f"sandbox did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace")[-5000:]
            if self.log_path and self.log_path.exists()
            else ""
        )

    @property
    def admin(self) -> str:
        return "admin@acme.test" if self.demo else "admin@localhost"

    def token(self, email: str | None = None) -> str:
        """A bearer token, as `mailroom token EMAIL --data-dir ...` prints it."""
        secret = (self.data_dir / "session_secret").read_text().strip()
        return issue_token(secret, email or self.admin, 3600, kind="api")

    def get(self, path: str, *, user: str | None = None, timeout: float = 10) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            headers={"Authorization": f"Bearer {self.token(user)}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            if response.headers.get("Content-Type", "").startswith("application/json"):
                return json.loads(body)
            return body.decode("utf-8")

    def post(self, path: str, body: Any = None, *, user: str | None = None) -> tuple[int, Any]:
        """(status, parsed JSON) of a JSON POST with a bearer token; 4xx/5xx are returned, not raised."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=json.dumps(body if body is not None else {}).encode(),
            headers={"Authorization": f"Bearer {self.token(user)}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.process.returncode)

    def kill(self) -> None:
        """Last resort: kill the sandbox and the processes it started (by their ids)."""
        if self.process is None:
            return
        for pid in children_of(self.process.pid) | {self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)

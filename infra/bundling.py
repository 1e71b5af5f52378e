"""The Lambda code asset, bundled without Docker: the app and its dependencies for arm64 Lambda.

One asset serves all four functions (CDK uploads it once): ``mailroom/`` and ``functions/`` plus the
runtime dependencies, installed by pip for Lambda's platform (manylinux, aarch64, CPython 3.12,
binary wheels only). It lands in ``/var/task``, which comes first on Lambda's import path, so these
exact pins win over anything a layer or the runtime also ships.

Not bundled:

* ``aws-lambda-powertools`` and its tracer extra (``aws-xray-sdk``, ``wrapt``): the public Powertools
  layer provides them (``infra/constructs/functions.py``), at the version ``requirements.lock`` pins;
* ``boto3`` and what it needs: the Lambda runtime provides it (every API the code calls, DynamoDB,
  S3 and SESv2 ``SendEmail``, is years old);
* ``click``: only the ``mailroom`` command line imports it.

Wheels are downloaded once into ``.cache/lambda-wheels/`` (``pip download``); later syntheses install
from there without an index, so ``make synth`` works offline once the cache is filled. Unit tests
skip bundling altogether with the context ``aws:cdk:bundling-stacks=[]`` (CDK then uses the source
path as a placeholder and never calls :meth:`PipLocalBundling.try_bundle`).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra.config import PROJECT_ROOT

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
# Lambda's Python 3.12 runs on Amazon Linux 2023 (glibc 2.34): any of these wheel tags load there.
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
# Code that goes into the bundle, relative to the project root.
APP_PACKAGES = ("mailroom", "functions")

FROM_POWERTOOLS_LAYER = frozenset({"aws-lambda-powertools", "aws-xray-sdk", "wrapt"})
FROM_LAMBDA_RUNTIME = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
)
NOT_USED_AT_RUN_TIME = frozenset({"click"})

WHEEL_CACHE = (
    PROJECT_ROOT / ".cache" / "lambda-wheels" / f"cp{LAMBDA_PYTHON_VERSION.replace('.', '')}-aarch64"
)

PipRunner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class BundlingError(RuntimeError):
    """The Lambda bundle could not be built; the message says what to do."""


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirement_name(spec: str) -> str:
    head = spec.split(";", maxsplit=1)[0].strip()
    for separator in ("[", "==", ">=", "<=", "~=", "!=", "<", ">", " "):
        head = head.split(separator)[0]
    return canonical(head)


def locked_versions(lock: Path) -> dict[str, str]:
    """``requirements.lock`` as {canonical name: exact version}."""
    versions: dict[str, str] = {}
    for raw in lock.read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise BundlingError(f"{lock}: {line!r} is not pinned with ==")
        versions[canonical(name)] = version.strip()
    return versions


def runtime_requirements(root: Path = PROJECT_ROOT) -> list[str]:
    """The Lambda bundle's top-level requirements: ``pyproject.toml``'s runtime dependencies minus
    what the layer or the runtime provides, each pinned exactly as ``requirements.lock`` pins it."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked = locked_versions(root / "requirements.lock")
    skipped = FROM_POWERTOOLS_LAYER | FROM_LAMBDA_RUNTIME | NOT_USED_AT_RUN_TIME
    requirements = []
    for spec in project["dependencies"]:
        name = _requirement_name(spec)
        if name in skipped:
            continue
        if name not in locked:
            raise BundlingError(f"{name} is a runtime dependency but requirements.lock does not pin it")
        extras = spec.split("[", 1)[1].split("]", 1)[0] if "[" in spec.split("==")[0] else ""
        requirements.append(f"{name}{f'[{extras}]' if extras else ''}=={locked[name]}")
    return sorted(requirements)


def powertools_version(root: Path = PROJECT_ROOT) -> str:
    """The Powertools version the code is tested with: the layer must be the same release."""
    return locked_versions(root / "requirements.lock")["aws-lambda-powertools"]


def _app_files(root: Path) -> Iterable[Path]:
    for package in APP_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def asset_hash(root: Path = PROJECT_ROOT) -> str:
    """A hash of everything that goes into the bundle (app files, pins, target platform), so CDK
    re-bundles exactly when one of them changes, without fingerprinting the whole repository."""
    digest = hashlib.sha256()
    digest.update("\n".join([LAMBDA_PYTHON_VERSION, *LAMBDA_PLATFORMS, *runtime_requirements(root)]).encode())
    digest.update((root / "requirements.lock").read_bytes())
    for path in _app_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our argv


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """Builds the bundle on this machine with pip (no Docker): CDK calls :meth:`try_bundle`."""

    def __init__(
        self,
        *,
        root: Path = PROJECT_ROOT,
        wheel_cache: Path = WHEEL_CACHE,
        python: str = sys.executable,
        runner: PipRunner = _run,
    ) -> None:
        self.root = root
        self.wheel_cache = wheel_cache
        self.python = python
        self.runner = runner

    def _pip(self, verb: str, *args: str) -> list[str]:
        platform_args = [f"--platform={p}" for p in LAMBDA_PLATFORMS]
        return [
            self.python,
            "-m",
            "pip",
            verb,
            "--disable-pip-version-check",
            "--quiet",
            *platform_args,
            "--implementation=cp",
            f"--python-version={LAMBDA_PYTHON_VERSION}",
            "--only-binary=:all:",
            *args,
        ]

    def try_bundle(self, output_dir: str, *_options: Any, **_kw: Any) -> bool:
        """Install the dependencies and copy the app into ``output_dir`` (CDK passes the bundling
        options too, positionally or by keyword; nothing in them is needed)."""
        out = Path(output_dir)
        with tempfile.TemporaryDirectory(prefix="mailroom-bundle-") as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text("\n".join(runtime_requirements(self.root)) + "\n", encoding="utf-8")
            self._install(out, requirements, str(self.root / "requirements.lock"))
        for package in APP_PACKAGES:
            shutil.copytree(
                self.root / package,
                out / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )
        if not (out / "mailroom" / "api" / "static" / "htmx.min.js").exists():
            raise BundlingError("mailroom/api/static/htmx.min.js is missing: run `make setup` first")
        return True

    def _install(self, out: Path, requirements: Path, constraints: str) -> None:
        offline = self._pip(
            "install",
            "--no-index",
            f"--find-links={self.wheel_cache}",
            f"--target={out}",
            "--no-compile",
            "-r",
            str(requirements),
            "-c",
            constraints,
        )
        if self.wheel_cache.is_dir() and self.runner(offline).returncode == 0:
            return
        self.wheel_cache.mkdir(parents=True, exist_ok=True)
        download = self._pip(
            "download", f"--dest={self.wheel_cache}", "-r", str(requirements), "-c", constraints
        )
        fetched = self.runner(download)
        if fetched.returncode != 0:
            message = (
                "Could not bundle the Lambda code: pip could not download the Lambda dependencies "
                f"(manylinux aarch64 wheels for CPython {LAMBDA_PYTHON_VERSION}) into {self.wheel_cache}.\n"
                f"pip said:\n{(fetched.stderr or fetched.stdout).strip()[-2000:]}\n"
                "Synthesis needs PyPI once; afterwards the wheels come from that cache, offline.\n"
                "Either connect to PyPI and run `make synth` again, or synthesize without bundling "
                "(placeholder code, not deployable): npx cdk synth -c 'aws:cdk:bundling-stacks=[]'"
            )
            print(message, file=sys.stderr)
            raise BundlingError(message)
        installed = self.runner(offline)
        if installed.returncode != 0:
            raise BundlingError(
                f"pip install from {self.wheel_cache} failed:\n{installed.stderr.strip()[-2000:]}"
            )


def lambda_code() -> lambda_.Code:
    """The shared code asset (bundled on synthesis unless bundling is skipped for the stack)."""
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=asset_hash(),
        bundling=cdk.BundlingOptions(
            # Never used: local bundling always succeeds or raises. CDK requires an image anyway.
            image=LAMBDA_RUNTIME.bundling_image,
            local=PipLocalBundling(),
        ),
    )

"""Debian's Chromium driven by Playwright (never a browser Playwright downloads itself)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# As root, in a machine with no network: no sandbox, no background connections, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("MAILROOM_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError(
            "Chromium is missing: run `make test` (it installs Debian's chromium) or set MAILROOM_CHROMIUM"
        )
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, base: str, name: str) -> None:
    """Through the sign-in page, as a person would: pick the user by name."""
    page.goto(base + "/")  # redirected to the sign-in page
    page.get_by_role("button", name=name).click()
    page.wait_for_url(base + "/")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (never a browser that Playwright downloads).
set -euo pipefail
for candidate in "${MAILROOM_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    exit 0
  fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "mailroom: Chromium not found; installing Debian's chromium for the browser tests" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] && exit 0
fi
cat >&2 <<'MSG'
mailroom: the browser tests need Chromium and none was found.
Install it (Debian/Ubuntu: sudo apt-get install chromium) or set MAILROOM_CHROMIUM to its path.
MSG
exit 1

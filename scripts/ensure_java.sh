#!/usr/bin/env bash
# Find a Java runtime (DynamoDB Local needs Java 11+), or install Debian's default-jre-headless as root.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "mailroom: Java not found; installing Debian's default-jre-headless" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
  command -v java >/dev/null 2>&1 && exit 0
fi
cat >&2 <<'MSG'
mailroom: DynamoDB Local needs a Java runtime (11 or newer) and none was found.
Install one and run make again, for example:
  Debian/Ubuntu:  sudo apt-get install default-jre-headless
  macOS:          brew install openjdk
MSG
exit 1

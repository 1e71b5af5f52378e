#!/usr/bin/env bash
# DynamoDB Local, the real DynamoDB engine from AWS, taken from the npm package that ships it.
# Only the package's emulator/ folder is unpacked; none of the package's dependencies are installed.
set -euo pipefail
VERSION="2.9.30"
JAR_SHA256="454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"
DEST="${1:-.cache/dynamodb-local}"

if [ -f "$DEST/DynamoDBLocal.jar" ] && echo "$JAR_SHA256  $DEST/DynamoDBLocal.jar" | sha256sum -c --status; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "mailroom: fetching DynamoDB Local (amplify-dynamodb-simulator@$VERSION)" >&2
(cd "$work" && npm pack --silent "amplify-dynamodb-simulator@$VERSION" >/dev/null)
tar -xzf "$work"/amplify-dynamodb-simulator-"$VERSION".tgz -C "$work" package/emulator
if ! echo "$JAR_SHA256  $work/package/emulator/DynamoDBLocal.jar" | sha256sum -c --status; then
  echo "mailroom: DynamoDBLocal.jar checksum mismatch; refusing to use it" >&2
  exit 1
fi
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$work/package/emulator" "$DEST"
echo "mailroom: DynamoDB Local installed in $DEST" >&2

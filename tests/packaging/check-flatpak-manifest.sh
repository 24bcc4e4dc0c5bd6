#!/usr/bin/env bash
# flatpak-builder --show-manifest: the manifest parses and names only known
# properties (flatpak-builder only warns about unknown ones: a warning fails
# here), and it builds the app this tree defines.
#   check-flatpak-manifest.sh FLATPAK_BUILDER MANIFEST APP_ID
set -u
builder=$1 manifest=$2 app_id=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out err=$tmp/err
# flatpak-builder keeps its state (a ccache folder) in the current directory.
cd "$tmp" || exit 1
if ! "$builder" --show-manifest "$manifest" >"$out" 2>"$err"; then
  cat "$err"
  exit 1
fi
if [ -s "$err" ]; then
  cat "$err"
  exit 1
fi
grep -q "\"id\" : \"$app_id\"" "$out" || { echo "manifest id is not $app_id"; exit 1; }
grep -q '"command" : "medhead"' "$out" || { echo "manifest command is not medhead"; exit 1; }
echo "$manifest: OK"

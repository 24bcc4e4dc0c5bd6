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
# finish-args: what the app uses and nothing more (issue 10). Location and
# notifications go through portals, which need no finish-arg; --share=ipc is
# the X11 fallback's shared memory (MIT-SHM), as Flathub asks with X11.
expected='--device=dri --share=ipc --share=network --socket=fallback-x11 --socket=wayland'
actual=$(python3 -c 'import json, sys
print(" ".join(sorted(json.load(open(sys.argv[1])).get("finish-args", []))))' "$manifest") \
  || { echo "cannot read finish-args"; exit 1; }
if [ "$actual" != "$expected" ]; then
  echo "finish-args are: $actual"
  echo "expected:        $expected"
  exit 1
fi
echo "$manifest: OK"

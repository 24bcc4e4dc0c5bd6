#!/usr/bin/env bash
# Installs the build into a temporary DESTDIR and runs the installed programs
# (TAP). Every path is the one compiled into the programs: a file found here
# under DESTDIR is a file the installed programs find.
#
#   test-install.sh BUILD_ROOT PREFIX BINDIR PKGDATADIR LOCALEDIR DATADIR UNITDIR HAVE_DESKTOP VERSION
#   (UNITDIR empty: no systemd unit wanted)
set -u
build=$1 prefix=$2 bindir=$3 pkgdatadir=$4 localedir=$5 datadir=$6 unitdir=$7 have_desktop=$8
version=$9
app_id=com.medhead.Emergency

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
n=0 failed=0

ok () { n=$((n + 1)); echo "ok $n $1"; }
not_ok () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $1"; }
skip () { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
check () { # DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >"$tmp/out" 2>&1; then ok "$what"; else sed 's/^/# /' "$tmp/out"; not_ok "$what"; fi
}
files () { # DESCRIPTION FILE...
  local what=$1 missing=0; shift
  for f in "$@"; do
    [ -e "$dest$f" ] || { echo "# missing: $f"; missing=1; }
  done
  if [ $missing -eq 0 ]; then ok "$what"; else not_ok "$what"; fi
}

export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache
export GSETTINGS_BACKEND=memory
unset DISPLAY WAYLAND_DISPLAY

if meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$tmp/install.log" 2>&1; then
  ok "meson install --destdir"
else
  sed 's/^/# /' "$tmp/install.log"
  not_ok "meson install --destdir"
  echo "1..$n"
  exit 1
fi

node=$dest$bindir/medhead-node
files "medhead-node installed in $bindir" "$bindir/medhead-node"
files "data files in $pkgdatadir" "$pkgdatadir/nhs-specialties.tsv" "$pkgdatadir/demo/region-idf.json"

mo=$dest$localedir/fr/LC_MESSAGES/medhead-emergency.mo
if [ -f "$mo" ] && msgunfmt "$mo" 2>/dev/null | grep -q 'Print this node'; then
  ok "French translation installed, with medhead-node's messages"
else
  echo "# $mo missing or incomplete"
  not_ok "French translation installed, with medhead-node's messages"
fi

if [ -n "$unitdir" ]; then
  unit=$dest$unitdir/medhead-node.service
  files "systemd unit and sysusers file installed" "$unitdir/medhead-node.service" \
    "$prefix/lib/sysusers.d/medhead-node.conf"
  if grep -q "^ExecStart=$bindir/medhead-node serve " "$unit" 2>/dev/null; then
    ok "the unit starts the installed medhead-node"
  else
    not_ok "the unit starts the installed medhead-node"
  fi
  if command -v systemd-analyze >/dev/null; then
    # The unit as it will be, but with the binary where DESTDIR put it.
    sed "s#$bindir/medhead-node#$node#" "$unit" > "$tmp/medhead-node.service"
    check "systemd-analyze verify medhead-node.service" \
      systemd-analyze verify "$tmp/medhead-node.service"
  else
    skip "systemd-analyze verify medhead-node.service" "no systemd-analyze"
  fi
fi

if [ "$have_desktop" = true ]; then
  files "desktop app, desktop file, metainfo, icons and schema installed" \
    "$bindir/medhead" "$datadir/applications/$app_id.desktop" \
    "$datadir/metainfo/$app_id.metainfo.xml" \
    "$datadir/icons/hicolor/scalable/apps/$app_id.svg" \
    "$datadir/icons/hicolor/symbolic/apps/$app_id-symbolic.svg" \
    "$datadir/glib-2.0/schemas/$app_id.gschema.xml"
  # gnome.post_install skips compiling under DESTDIR: compile them here.
  check "installed schemas compile (--strict)" \
    glib-compile-schemas --strict --targetdir "$tmp" "$dest$datadir/glib-2.0/schemas"
  if "$dest$bindir/medhead" --help >"$tmp/out" 2>&1 && grep -q -- '--demo' "$tmp/out"; then
    ok "medhead --help"
  else
    sed 's/^/# /' "$tmp/out"
    not_ok "medhead --help"
  fi
fi

if "$node" --help >"$tmp/out" 2>&1 && grep -q '^Commands:' "$tmp/out"; then
  ok "medhead-node --help"
else
  sed 's/^/# /' "$tmp/out"; not_ok "medhead-node --help"
fi
if [ "$("$node" --version 2>&1)" = "medhead-node $version" ]; then
  ok "medhead-node --version"
else
  not_ok "medhead-node --version"
fi

# The installed translations, in the user's language (LANGUAGE works even
# where no French locale is generated).
if MEDHEAD_LOCALEDIR=$dest$localedir LANGUAGE=fr LC_ALL=C.UTF-8 "$node" init --help >"$tmp/out" 2>&1 \
    && grep -q '^Utilisation' "$tmp/out" && grep -q 'Dossier de données à créer' "$tmp/out"; then
  ok "medhead-node speaks French with LANGUAGE=fr"
else
  sed 's/^/# /' "$tmp/out"; not_ok "medhead-node speaks French with LANGUAGE=fr"
fi

data=$tmp/node
check "medhead-node init" "$node" init --data-dir "$data" --name "Install test hub" --role hub
if "$node" id --data-dir "$data" >"$tmp/out" 2>&1 && grep -q '^fingerprint: ' "$tmp/out"; then
  ok "medhead-node id"
else
  sed 's/^/# /' "$tmp/out"; not_ok "medhead-node id"
fi
# The demo registry where the programs look for it.
if "$node" import --data-dir "$data" "$dest$pkgdatadir/demo/region-idf.json" >"$tmp/out" 2>&1 \
    && grep -q '^imported [1-9][0-9]* hospitals' "$tmp/out"; then
  ok "medhead-node import of the installed demo registry"
else
  sed 's/^/# /' "$tmp/out"; not_ok "medhead-node import of the installed demo registry"
fi

# serve, then SIGTERM, as systemd stops it: a clean exit 0.
"$node" serve --data-dir "$data" --api 127.0.0.1:0 >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ -s "$data/api-url" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if [ -s "$data/api-url" ]; then
  kill -TERM $pid
  wait $pid
  rc=$?
  if [ $rc -eq 0 ] && grep -q '^stopped' "$tmp/serve.log" && [ ! -e "$data/api-url" ]; then
    ok "medhead-node serve stops cleanly on SIGTERM"
  else
    echo "# exit status $rc"; sed 's/^/# /' "$tmp/serve.log"
    not_ok "medhead-node serve stops cleanly on SIGTERM"
  fi
else
  kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
  sed 's/^/# /' "$tmp/serve.log"
  not_ok "medhead-node serve stops cleanly on SIGTERM"
fi

echo "1..$n"
[ $failed -eq 0 ]

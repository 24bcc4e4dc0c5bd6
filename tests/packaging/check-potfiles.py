#!/usr/bin/python3
"""Checks po/POTFILES.in against the sources (TAP).

Every source file with translatable strings (_(), N_(), C_(), NC_(), Q_(),
translatable="yes" in a .ui file, a desktop file, a metainfo file, a GSettings
schema with a gettext domain) must be listed, and every listed file must
exist. Usage: check-potfiles.py SOURCE_ROOT
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# Folders whose files end up in the programs; tests/ and docs/ are not translated.
source_dirs = ["desktop", "node", "sync", "data"]
marker_c = re.compile(r"(?<![A-Za-z0-9_])(?:N_|C_|NC_|Q_|_)\s*\(")
marker_ui = re.compile(r'translatable\s*=\s*"(?:yes|true|1)"')


def needs_translation(path):
    name = os.path.basename(path)
    if name.endswith((".desktop.in", ".metainfo.xml.in", ".appdata.xml.in")):
        return True
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return False
    if name.endswith((".c", ".h")):
        return marker_c.search(text) is not None
    if name.endswith(".ui"):
        return marker_ui.search(text) is not None
    if name.endswith(".gschema.xml"):
        return "gettext-domain" in text
    return False


def listed_files():
    listed = []
    with open(os.path.join(root, "po", "POTFILES.in"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                # A bracketed type, e.g. "[type: gettext/glade]file.ui".
                listed.append(re.sub(r"^\[[^]]*\]\s*", "", line))
    return listed


listed = listed_files()
wanted = []
for top in source_dirs:
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_build", "build")))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if needs_translation(path):
                wanted.append(os.path.relpath(path, root))

print("1..3")
missing = [p for p in wanted if p not in listed]
for p in missing:
    print(f"# not in po/POTFILES.in: {p}")
print(("not ok" if missing else "ok") + " 1 every file with translatable strings is listed")

absent = [p for p in listed if not os.path.isfile(os.path.join(root, p))]
for p in absent:
    print(f"# listed in po/POTFILES.in but not there: {p}")
print(("not ok" if absent else "ok") + " 2 every listed file exists")

dupes = sorted({p for p in listed if listed.count(p) > 1})
for p in dupes:
    print(f"# listed twice: {p}")
print(("not ok" if dupes else "ok") + " 3 no file is listed twice")
sys.exit(1 if missing or absent or dupes else 0)

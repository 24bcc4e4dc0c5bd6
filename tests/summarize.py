#!/usr/bin/python3
"""Adds up meson test logs and prints the closing 'N passed, N failed' line
(skipped and TODO subtests are counted on the line before it, as 'N skipped').

Each TAP subtest counts once ('ok' or 'not ok'); a test program that failed
without reporting a failing subtest (a crash, a sanitizer report, a
timeout) counts as one failure more. A build that failed counts as one failure.
"""
import json
import re
import sys

passed = failed = skipped = 0
tap_ok = re.compile(r"^(not ok|ok)\b(.*)$")

for path in sys.argv[1:]:
    if path.startswith("BUILD-FAILED:"):
        failed += 1
        continue
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        entry = json.loads(line)
        result = entry.get("result")
        out = entry.get("stdout") or ""
        p = f = s = 0
        for tap in out.splitlines():
            m = tap_ok.match(tap)
            if not m:
                continue
            # A TODO is a known gap named by its test (TAP): neither passed nor failed.
            if "# SKIP" in m.group(2) or "# TODO" in m.group(2):
                s += 1
            elif m.group(1) == "ok":
                p += 1
            else:
                f += 1
        if p + f + s == 0:
            if result in ("OK", "EXPECTEDFAIL"):
                p = 1
            elif result == "SKIP":
                s = 1
            else:
                f = 1
        elif result not in ("OK", "EXPECTEDFAIL", "SKIP") and f == 0:
            f = 1
        passed += p
        failed += f
        skipped += s

# The last line is exactly "N passed, N failed": skips go on the line before.
if skipped:
    print(f"{skipped} skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

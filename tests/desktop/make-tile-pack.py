#!/usr/bin/python3
"""make-tile-pack.py: a synthetic MBTiles tile pack over Ile-de-France.

For trying the tile pack preference and taking screenshots: each tile is a
pale checkerboard square with a darker edge and a diagonal, so what comes
from the pack is plain to see. Standard library only.

    tests/desktop/make-tile-pack.py OUT.mbtiles [MINZOOM MAXZOOM]
"""
import math
import sqlite3
import struct
import sys
import zlib

WEST, SOUTH, EAST, NORTH = 1.4, 48.1, 3.6, 49.3


def png(rows):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = b"".join(b"\0" + bytes(row) for row in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def tile(x, y, z):
    base = (232, 240, 226) if (x + y) % 2 == 0 else (222, 232, 240)
    edge = (150, 170, 150)
    rows = []
    for j in range(256):
        row = []
        for i in range(256):
            if i < 2 or j < 2 or abs(i - j) < 2:
                row.extend(edge)
            else:
                row.extend(base)
        rows.append(row)
    return png(rows)


def xy(lat, lon, z):
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def main():
    out = sys.argv[1]
    lo, hi = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (5, 12)
    db = sqlite3.connect(out)
    db.executescript("""
        CREATE TABLE metadata (name TEXT, value TEXT);
        CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,
                            tile_data BLOB);
        CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
    """)
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("name", "Synthetic Ile-de-France"), ("format", "png"), ("minzoom", str(lo)),
        ("maxzoom", str(hi)), ("bounds", f"{WEST},{SOUTH},{EAST},{NORTH}"),
        ("attribution", "synthetic tiles")])
    cache = {}
    for z in range(lo, hi + 1):
        x0, y0 = xy(NORTH, WEST, z)
        x1, y1 = xy(SOUTH, EAST, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                key = ((x + y) % 2)
                if key not in cache:
                    cache[key] = tile(x, y, z)
                # MBTiles rows count from the south (TMS).
                db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                           (z, x, (1 << z) - 1 - y, cache[key]))
    db.commit()
    db.close()


if __name__ == "__main__":
    main()

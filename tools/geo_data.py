#!/usr/bin/env python3
"""Builds the embedded geo data (data/geo/) from sapics' ip-location-db
packages on the npm registry: `make geo-data` fetches them with `npm pack`
and runs this.

  geo-whois-asn-country  IP range -> country (ISO 3166 alpha-2)
  asn                    IP range -> autonomous system number and owner

Licences (docs/decisions/0010-geo-data.md): the country data is CC0-1.0 as
compiled, from NRO statistics (CC BY 4.0), geofeeds and whois; the ASN data
is CC BY 4.0 (RouteViews, DB-IP's IP to ASN Lite, NRO). Both are shipped
with attribution (data/geo/ATTRIBUTION).

Output, little-endian, sorted by start, gaps written as records whose value
is 0 (no country, no ASN), so that a lookup is one binary search for the
last start at or below the address:

  country4.bin  start u32, country [u8; 2]       (6 bytes a record)
  country6.bin  start u128, country [u8; 2]      (18 bytes)
  asn4.bin      start u32, asn u32               (8 bytes)
  asn6.bin      start u128, asn u32              (20 bytes)
  asnames.bin   count u32, then count x (asn u32, offset u32), then the
                names as UTF-8, each ending where the next begins
  SOURCE        what answers and its date ("ip-location-db YYYY-MM-DD"),
                then the packages and versions it was built from
"""
import argparse
import csv
import ipaddress
import json
import os
import struct
import sys


def ranges(path):
    """(start, end, value row tail) of a CSV of inclusive ranges."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if not row:
                continue
            start = int(ipaddress.ip_address(row[0]))
            end = int(ipaddress.ip_address(row[1]))
            yield start, end, row[2:]


def flatten(items, empty, top=1 << 128):
    """Disjoint (start, value) records covering the space from the first
    start, gaps as `empty`. Where ranges overlap, the one starting later
    (the more specific, in these files) wins until it ends."""
    items = sorted(items, key=lambda r: (r[0], -r[1]))
    out = []
    stack = []  # open ranges (end, value), innermost last

    def emit(start, value):
        if out and out[-1][1] == value:
            return
        if out and out[-1][0] == start:
            out[-1] = (start, value)
            if len(out) > 1 and out[-2][1] == value:
                out.pop()
            return
        out.append((start, value))

    def close_until(limit):
        # Close the ranges that end before `limit`, stepping out to the
        # enclosing one (or a gap) after each.
        while stack and stack[-1][0] < limit:
            end, _ = stack.pop()
            after = end + 1
            # A range that ends the address space leaves nothing after it.
            if after < top:
                emit(after, stack[-1][1] if stack else empty)

    for start, end, value in items:
        close_until(start)
        emit(start, value)
        # Open ranges that end within this one are over: it wins to its end.
        while stack and stack[-1][0] <= end:
            stack.pop()
        stack.append((end, value))
    close_until(1 << 129)
    return out


def write(path, records, fmt):
    with open(path, "wb") as f:
        for start, value in records:
            f.write(struct.pack(fmt, *split(start, fmt), value))


def split(start, fmt):
    if fmt.startswith("<QQ"):
        return (start & ((1 << 64) - 1), start >> 64)
    return (start,)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--country", required=True, help="the unpacked geo-whois-asn-country package")
    ap.add_argument("--asn", required=True, help="the unpacked asn package")
    ap.add_argument("--out", default="data/geo")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def version(pkg):
        with open(os.path.join(pkg, "package.json"), encoding="utf-8") as f:
            meta = json.load(f)
        return meta["name"], meta["version"]

    for family, bits in (("4", 32), ("6", 128)):
        rows = [(s, e, v[0].encode("ascii")) for s, e, v in ranges(
            os.path.join(args.country, f"geo-whois-asn-country-ipv{family}.csv"))]
        recs = flatten(rows, b"\0\0", 1 << bits)
        fmt = "<I2s" if bits == 32 else "<QQ2s"
        write(os.path.join(args.out, f"country{family}.bin"), recs, fmt)
        print(f"country{family}.bin: {len(recs)} records", file=sys.stderr)

    names = {}
    for family, bits in (("4", 32), ("6", 128)):
        rows = []
        for s, e, v in ranges(os.path.join(args.asn, f"asn-ipv{family}.csv")):
            asn = int(v[0])
            rows.append((s, e, asn))
            if len(v) > 1 and v[1]:
                names.setdefault(asn, v[1])
        recs = flatten(rows, 0, 1 << bits)
        fmt = "<II" if bits == 32 else "<QQI"
        write(os.path.join(args.out, f"asn{family}.bin"), recs, fmt)
        print(f"asn{family}.bin: {len(recs)} records", file=sys.stderr)

    asns = sorted(names)
    blob = bytearray()
    index = bytearray(struct.pack("<I", len(asns)))
    for asn in asns:
        index += struct.pack("<II", asn, len(blob))
        blob += names[asn].encode("utf-8")
    with open(os.path.join(args.out, "asnames.bin"), "wb") as f:
        f.write(index + blob)
    print(f"asnames.bin: {len(asns)} names", file=sys.stderr)

    (cn, cv), (an, av) = version(args.country), version(args.asn)
    # ip-location-db versions end with the build's date and hour: 2.3.YYYYMMDDHH.
    stamp = min(cv.rsplit(".", 1)[-1], av.rsplit(".", 1)[-1])
    date = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"
    with open(os.path.join(args.out, "SOURCE"), "w", encoding="utf-8") as f:
        f.write(f"ip-location-db {date}\n{cn}@{cv} {an}@{av}\n")


if __name__ == "__main__":
    main()

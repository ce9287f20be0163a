#!/usr/bin/env python3
"""Prints the byte ranges of a device or file that are all zero, one "START END LENGTH" line each
(END exclusive). The recorder fills a device with 0xAA first, so after a libvirt operation these are
the bytes libvirt (or the tool it ran) zeroed, plus the zero fields of whatever label was written.

usage: zero-ranges.py PATH
"""
import re
import sys

CHUNK = 1 << 20
ZEROS = re.compile(rb"\x00+")


def main():
    ranges = []
    offset = 0
    with open(sys.argv[1], "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            for m in ZEROS.finditer(block):
                start, end = offset + m.start(), offset + m.end()
                if ranges and ranges[-1][1] == start:
                    ranges[-1] = (ranges[-1][0], end)
                else:
                    ranges.append((start, end))
            offset += len(block)
    for start, end in ranges:
        print(start, end, end - start)


if __name__ == "__main__":
    main()

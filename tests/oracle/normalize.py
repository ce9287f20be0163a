#!/usr/bin/env python3
"""Replaces the parts of a recording that differ from run to run by placeholders, in place.

usage: normalize.py SUBSTITUTIONS FILE...

SUBSTITUTIONS has one rule a line, "PATTERN<TAB>PLACEHOLDER": PATTERN is a Python regular expression
(the recorder writes re.escape()d literals and word-bounded loop device names). Rules apply in file
order, then the built-in ones: UUIDs become @UUID@, LVM UUIDs @LVMUUID@, and the
<atime>/<mtime>/<ctime>/<btime> values of volume timestamps @TS@.
"""
import re
import sys

BUILTIN = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "@UUID@"),
    # LVM's PV/VG/LV UUIDs (6-4-4-4-4-4-6 characters)
    (re.compile(r"\b[A-Za-z0-9]{6}(?:-[A-Za-z0-9]{4}){5}-[A-Za-z0-9]{6}\b"), "@LVMUUID@"),
    (re.compile(r"<(atime|mtime|ctime|btime)>[0-9.]+</\1>"), r"<\1>@TS@</\1>"),
]


def main():
    rules = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            pattern, placeholder = line.split("\t", 1)
            rules.append((re.compile(pattern), placeholder.replace("\\", "\\\\")))
    rules += BUILTIN
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        for pattern, placeholder in rules:
            text = pattern.sub(placeholder, text)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)


if __name__ == "__main__":
    main()

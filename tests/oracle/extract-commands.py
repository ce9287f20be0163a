#!/usr/bin/env python3
"""Extracts the commands libvirtd ran from a slice of its debug log (log_filters "1:util.command").

usage: extract-commands.py LOGSLICE ARGV_OUT CMDLOG_OUT

ARGV_OUT gets one line per command, the text after "About to run " (libvirt's virCommandToString:
environment assignments, then the program and its arguments, shell-quoted where needed).
CMDLOG_OUT gets those lines as "run: ..." and each "Result ..." record (exit status, stdout and stderr
as libvirt logged them, which may span several lines) in log order, without the timestamp, thread
and function prefix.
"""
import re
import sys

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+\d{4}: \d+: \w+ : [\w.]+:\d+ : ")


def records(text):
    current = None
    for line in text.split("\n"):
        m = RECORD.match(line)
        if m:
            if current is not None:
                yield current
            current = line[m.end():]
        elif current is not None:
            current += "\n" + line
    if current is not None:
        yield current


def main():
    log_path, argv_path, cmdlog_path = sys.argv[1:4]
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    argv, cmdlog = [], []
    for rec in records(text):
        rec = rec.rstrip("\n")
        if rec.startswith("About to run "):
            argv.append(rec[len("About to run "):])
            cmdlog.append("run: " + rec[len("About to run "):])
        elif rec.startswith("Result "):
            cmdlog.append(rec)
    with open(argv_path, "w", encoding="utf-8") as f:
        f.writelines(a + "\n" for a in argv)
    with open(cmdlog_path, "w", encoding="utf-8") as f:
        f.writelines(c + "\n" for c in cmdlog)


if __name__ == "__main__":
    main()

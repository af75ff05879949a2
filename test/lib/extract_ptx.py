#!/usr/bin/env python3
"""Writes the PTX of every gpu.binary (format=isa) of an MLIR file to
OUT_DIR/<binary>.ptx and prints the file names, for ptxas to check."""

import os
import re
import sys


def main():
    source, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    text = open(source).read()
    count = 0
    for match in re.finditer(r'gpu\.binary @(\w+).*?assembly = "(.*?)"', text):
        ptx = re.sub(r"\\([0-9A-Fa-f]{2})",
                     lambda m: chr(int(m.group(1), 16)), match.group(2))
        path = os.path.join(out_dir, match.group(1) + ".ptx")
        with open(path, "w") as f:
            f.write(ptx)
        print(path)
        count += 1
    if not count:
        sys.exit("no gpu.binary with PTX assembly in " + source)


if __name__ == "__main__":
    main()

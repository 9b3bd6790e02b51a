#!/usr/bin/env python3
"""Reads lld's link map of berth (-Wl,-Map) for scripts/symbol-order.sh.

  map.py functions MAP        the start address (hex) of every function in
                              .text, sorted, one per line (trace.c's input)
  map.py order MAP HITS...    the names of the functions at the addresses of
                              the HITS files (trace.c's output), in the order
                              they were first entered: an lld symbol ordering
                              file
"""
import re
import sys


def text_symbols(path):
    """(address, name) of every symbol lld placed in the .text output section.

    A map line is "VMA LMA Size Align", one space, then an output section, or
    an input section ("file:(section)") indented by 8 more, or a symbol
    indented by 16 more.
    """
    line_re = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+ ( *)(\S+)$")
    inside = False
    with open(path) as f:
        for line in f:
            m = line_re.match(line.rstrip("\n"))
            if not m:
                continue
            depth, name = len(m.group(2)), m.group(3)
            if depth == 0:
                inside = name == ".text"
            elif inside and depth == 16:
                yield int(m.group(1), 16), name


def main(argv):
    if len(argv) >= 3 and argv[1] == "functions":
        for addr in sorted({a for a, _ in text_symbols(argv[2])}):
            print(f"{addr:x}")
        return 0
    if len(argv) >= 4 and argv[1] == "order":
        names = {}
        for addr, name in text_symbols(argv[2]):
            names.setdefault(addr, []).append(name)
        written = set()
        for hits in argv[3:]:
            with open(hits) as f:
                for line in f:
                    for name in names.get(int(line, 16), []):
                        if name not in written:
                            written.add(name)
                            print(name)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

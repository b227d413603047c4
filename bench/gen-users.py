#!/usr/bin/env python3
"""Writes a CSV of N users for bench/import.sh: email, first_name, last_name, password.

Row 1 (bench1@example.com) has a real bcrypt hash (cost 4, pyca bcrypt) of
"correct horse battery staple", so a login can be checked after the import. Every
other row has a distinct, well-formed bcrypt string ($2b$10$, 22 salt and 31 hash
characters of bcrypt's alphabet): the importer stores hashes as they are and only
checks their form, and hashing a million passwords for real would take hours.
Deterministic (seeded) so runs are comparable. Usage: gen-users.py N > users.csv
"""

import base64
import random
import sys

REAL = "$2b$04$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6"
FIRST = ["Ann", "Bob", "Carla", "Dev", "Erin", "Femi", "Gus", "Hana", "Ivo", "Jun"]
LAST = ["Lee", "Okafor", "Smith", "Nguyen", "Garcia", "Kowalski", "Sato", "Muller"]
# Standard base64 to bcrypt's alphabet (./A-Za-z0-9).
TO_BCRYPT = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(20261123)
    out = sys.stdout
    out.write("email,first_name,last_name,password\n")
    lines = []
    for i in range(1, n + 1):
        if i == 1:
            pw = REAL
        else:
            # 40 random bytes -> 56 characters; bcrypt wants 22 + 31 = 53.
            b = base64.b64encode(rng.randbytes(40)).translate(TO_BCRYPT).decode()
            pw = "$2b$10$" + b[:53]
        first = FIRST[i % len(FIRST)]
        last = LAST[(i // 7) % len(LAST)]
        lines.append(f"bench{i}@example.com,{first},{last},{pw}\n")
        if len(lines) == 10_000:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))


if __name__ == "__main__":
    main()

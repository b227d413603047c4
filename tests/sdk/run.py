"""Runs the pangea-sdk compatibility suite (unittest) against a running aegis.

    python tests/sdk/run.py [-k PATTERN]... [-f] [-q]

Normally started by scripts/sdk-test, which provides the server and the
environment (see sdkenv.py). A failing test prints the last HTTP exchanges it
made. With AEGIS_SDK_SUMMARY set, a one-line summary is written to that file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sdkenv  # noqa: E402


class Result(unittest.TextTestResult):
    def startTest(self, test):  # type: ignore[no-untyped-def]
        sdkenv.EXCHANGES.clear()
        super().startTest(test)

    def _with_http(self, err):  # type: ignore[no-untyped-def]
        exc_type, exc, tb = err
        note = "\nLast HTTP exchanges:\n" + sdkenv.recent_exchanges()
        if hasattr(exc, "add_note"):  # Python 3.11+: shown with the traceback
            exc.add_note(note)
        else:
            self.stream.write(note + "\n")
        return err

    def addFailure(self, test, err):  # type: ignore[no-untyped-def]
        super().addFailure(test, self._with_http(err))

    def addError(self, test, err):  # type: ignore[no-untyped-def]
        super().addError(test, self._with_http(err))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", dest="patterns", help="only tests matching this substring")
    ap.add_argument("-f", "--failfast", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in args.patterns]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(
        verbosity=1 if args.quiet else 2, failfast=args.failfast, resultclass=Result, stream=sys.stdout
    )
    started = time.monotonic()
    res = runner.run(suite)
    elapsed = time.monotonic() - started

    # a test with failing subtests counts once
    failing: list[str] = []
    for t, _ in res.failures + res.errors:
        name = getattr(t, "test_case", t).id().split(".", 1)[-1]
        if name not in failing:
            failing.append(name)
    failing += [t.id().split(".", 1)[-1] for t in res.unexpectedSuccesses]
    failed = len(failing)
    passed = res.testsRun - failed - len(res.skipped)
    parts = [f"{passed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if res.skipped:
        parts.append(f"{len(res.skipped)} skipped")
    line = ", ".join(parts) + f" in {elapsed:.1f}s"
    if failed:
        line += " — failing: " + " ".join(failing)
    summary_file = os.environ.get("AEGIS_SDK_SUMMARY")
    if summary_file:
        with open(summary_file, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    print(line)
    return 0 if failed == 0 and res.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

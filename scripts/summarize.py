#!/usr/bin/env python3
"""Sums the results of several Meson test runs (and of checks run outside
Meson) and prints one closing line, 'N passed, N failed, N skipped'. Exits
non-zero when anything failed or when a build ran no test at all."""
import glob
import json
import os
import sys


def results(build):
    """(name, result) of every test in the build's logs: testlog.json and
    the logs of test setups (testlog-valgrind.json, ...)."""
    logs = sorted(glob.glob(os.path.join(build, "meson-logs", "testlog*.json")))
    out = []
    for path in logs:
        setup = os.path.basename(path)[len("testlog"):-len(".json")].lstrip("-")
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rec = json.loads(line)
                    name = f"{rec['name']} [{setup}]" if setup else rec["name"]
                    out.append((name, rec["result"]))
    return out or None


def main(args):
    """args: build folders, and NAME=STATUS for checks run outside Meson
    (a status of 0 passes)."""
    passed = failed = skipped = 0
    bad = []
    builds = [a for a in args if "=" not in a]
    for extra in (a for a in args if "=" in a):
        name, _, status = extra.partition("=")
        if status == "0":
            passed += 1
        else:
            failed += 1
            bad.append(f"{name}: exit status {status}")
    for b in builds:
        res = results(b)
        if not res:
            bad.append(f"{b}: no test ran")
            failed += 1
            continue
        for name, result in res:
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                bad.append(f"{b}: {name}: {result}")
    for line in bad:
        print("FAILED", line)
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

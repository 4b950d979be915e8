#!/usr/bin/env python3
"""Lists every test that ctest skipped, with the reason the test printed, from ctest's JUnit report:

    ctest --output-junit ctest-junit.xml; python3 tests/ctest_skips.py ctest-junit.xml

ctest itself prints "***Skipped" without the reason (and --output-on-failure prints nothing for a skip). The
reason is GoogleTest's message after "Skipped" (tests/common/skip.h), or the first line of a test that exits 77.
"""
import sys
import xml.etree.ElementTree as ET


def reason(output):
    lines = [l.strip() for l in (output or "").splitlines()]
    for i, line in enumerate(lines):
        if line.endswith(": Skipped"):
            for nxt in lines[i + 1:]:
                if nxt:
                    return nxt
    for line in lines:
        if line.startswith("SKIP"):
            return line
    return next((l for l in lines if l), "(no reason printed)")


def main(path):
    root = ET.parse(path).getroot()
    skipped = []
    for tc in root.iter("testcase"):
        if tc.find("skipped") is None:
            continue
        out = tc.find("system-out")
        skipped.append((tc.get("name"), reason(out.text if out is not None else "")))
    if not skipped:
        print("[test] no test was skipped")
        return
    print(f"[test] {len(skipped)} skipped, each with the reason it printed:")
    width = max(len(n) for n, _ in skipped)
    for name, why in skipped:
        print(f"  {name:<{width}}  {why[:160]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ctest-junit.xml")

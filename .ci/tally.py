"""Print 'passed failed skipped' from a unittest log (for .ci/run's summary line).

Passed is the tests discovered less the failed and the skipped: "Ran N" alone
will not do, since CPython 3.12 leaves the tests of a skipped class out of it
(and counts them as skipped).
"""
import re
import sys
import unittest

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
ran = re.findall(r"^Ran (\d+) tests? in", text, re.M)
outcome = re.findall(r"^(OK|FAILED)(?: \((.*)\))?$", text, re.M)
counts = dict.fromkeys(("failures", "errors", "skipped", "expected failures", "unexpected successes"), 0)
if outcome:
    for part in (outcome[-1][1] or "").split(", "):
        if "=" in part:
            key, value = part.split("=")
            counts[key] = int(value)
failed = counts["failures"] + counts["errors"] + counts["unexpected successes"] + (0 if outcome else 1)
skipped = counts["skipped"]
total = unittest.defaultTestLoader.discover("tests", top_level_dir=".").countTestCases() if ran else 0
print(max(total - failed - skipped, 0), failed, skipped)

"""The public API type-checks strictly from a user's side (mypy and pyright), and ssekit itself passes mypy --strict.

The checkers are test-only dependencies (CI installs them on the newest
interpreter); where one is missing its test is skipped with the reason printed.
"""
import os
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USAGE = os.path.join("tests", "typecheck_usage.py")


def run(*command: str) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(list(command), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)  # fmt: skip


def skip(test: unittest.TestCase, reason: str) -> None:
    print("skipped: %s" % reason, file=sys.stderr)
    test.skipTest(reason)


class TypeChecks(unittest.TestCase):
    def test_the_usage_script_is_true(self) -> None:
        result = run(sys.executable, USAGE)
        self.assertEqual((result.returncode, result.stdout.strip().splitlines()[-1:]), (0, ["ok"]), result.stdout)

    def test_mypy_strict_on_the_usage_script_and_ssekit(self) -> None:
        try:
            import mypy  # noqa: F401
        except ImportError:
            skip(self, "mypy is not installed here (pip install mypy)")
        result = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", USAGE, "ssekit")
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_pyright_strict_on_the_usage_script(self) -> None:
        if shutil.which("pyright") is None:
            skip(self, "pyright is not installed here (pip install pyright)")
        result = run("pyright", "--pythonpath", sys.executable, USAGE)
        self.assertEqual(result.returncode, 0, result.stdout)


if __name__ == "__main__":
    unittest.main()

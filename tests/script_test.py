"""What the tests of scripts/ share: running one of the scripts, and collecting the
expectations that failed so that one run reports all of them."""
import os
import subprocess
import sys

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")


def run_script(name, *args):
    """(exit status, stdout, stderr) of scripts/<name> ARGS."""
    p = subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args], capture_output=True,
                       text=True)
    return p.returncode, p.stdout, p.stderr


class Expectations:
    def __init__(self):
        self.failures = []

    def expect(self, ok, what):
        if not ok:
            self.failures.append(what)

    def exit_status(self):
        """Prints each failure; 1 if there was any, else 0."""
        for f in self.failures:
            print("FAILED:", f)
        return 1 if self.failures else 0

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


def run_folder_with_log(root, name, lines, prefix="[2026-12-06 16:38:12.957] [fp-sim-run] [info] "):
    """root/name, made, holding an fp-sim.log of `lines`, each after spdlog's prefix."""
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "fp-sim.log"), "w") as f:
        f.write("".join(prefix + line + "\n" for line in lines))
    return folder


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

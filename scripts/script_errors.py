"""How the Python scripts in scripts/ answer bad input (a missing file, another program's
database, text that is no number): one line naming the script, its arguments and the error,
exit 2, instead of a traceback."""
import os
import sqlite3
import sys


def run_main(main, *args):
    """main(*args)'s exit status, or 2 with the error on one line."""
    try:
        return main(*args)
    except (OSError, sqlite3.Error, ValueError) as e:  # JSONDecodeError is a ValueError
        print(f"{os.path.basename(sys.argv[0])} {' '.join(sys.argv[1:])}: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2

"""How the Python scripts in scripts/ answer bad input (a missing file, another program's
database, text that is no number): one line naming the script, its arguments and the error,
exit 2, instead of a traceback."""
import errno
import os
import sqlite3
import sys
from urllib.parse import quote


def run_main(main, *args):
    """main(*args)'s exit status, or 2 with the error on one line."""
    try:
        return main(*args)
    except (OSError, sqlite3.Error, ValueError) as e:  # JSONDecodeError is a ValueError
        print(f"{os.path.basename(sys.argv[0])} {' '.join(sys.argv[1:])}: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2


def open_run_database(path):
    """A read-only connection to a run's SQLite store: PATH itself, or PATH/fp.db for a folder.
    FileNotFoundError naming the file where there is none (sqlite3 said only "unable to open
    database file"). The name is quoted into the URI: a '#' or '?' in a folder's name ended
    the file name there, and another file was opened."""
    db = os.path.join(path, "fp.db") if os.path.isdir(path) else path
    if not os.path.isfile(db):
        raise FileNotFoundError(errno.ENOENT, "no fineprune database (fp.db) here", db)
    return sqlite3.connect(f"file:{quote(os.path.abspath(db))}?mode=ro", uri=True)

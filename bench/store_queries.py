#!/usr/bin/env python3
"""Times the coordinator's two hottest store queries of a 10,000-agent run, as they were
and as they are (common/store/store_tasks.cpp), on a finished run's database:

  bench/store_queries.py /tmp/fp-10k/fp.db [--repeat 50]

find_pending_task: the pending task of one arriving agent's individual; task_counts: the
progress poll. Standard library only (sqlite3); prints milliseconds per call.
"""
import argparse
import os
import sqlite3
import time
from urllib.parse import quote

QUERIES = [
    ("find_pending_task, before (JOIN, walks tasks_by_status)",
     "SELECT t.id FROM tasks t JOIN campaigns c ON c.id = t.campaign_id "
     "WHERE t.status = 'pending' AND c.status = 'running' AND c.dataset = :dataset "
     "AND t.individual = :individual ORDER BY t.id LIMIT 1"),
    ("find_pending_task, after (CROSS JOIN into UNIQUE (campaign_id, individual))",
     "SELECT t.id FROM campaigns c CROSS JOIN tasks t ON t.campaign_id = c.id "
     "AND t.individual = :individual WHERE c.status = 'running' AND c.dataset = :dataset "
     "AND t.status = 'pending' ORDER BY t.id LIMIT 1"),
    ("task_counts, before (GROUP BY over the campaign's rows)",
     "SELECT status, COUNT(*) FROM tasks WHERE campaign_id = :campaign GROUP BY status"),
    ("task_counts, after (covering index tasks_by_status)",
     "SELECT status, COUNT(*) FROM tasks WHERE status IN ('pending', 'assigned', 'done', "
     "'failed') AND campaign_id = :campaign GROUP BY status"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--repeat", type=int, default=50)
    a = ap.parse_args()
    db = sqlite3.connect(f"file:{quote(os.path.abspath(a.db))}?mode=ro", uri=True)
    db.execute("PRAGMA query_only = 1")
    campaign, dataset = db.execute("SELECT id, dataset FROM campaigns ORDER BY id LIMIT 1").fetchone()
    individual = db.execute("SELECT individual FROM tasks WHERE campaign_id = ? ORDER BY id DESC "
                            "LIMIT 1", (campaign,)).fetchone()[0]
    pending = db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'pending'").fetchone()[0]
    print(f"{a.db}: campaign {campaign}, {pending} pending task(s)")
    params = {"dataset": dataset, "individual": individual, "campaign": campaign}
    for name, sql in QUERIES:
        t = time.perf_counter()
        for _ in range(a.repeat):
            db.execute(sql, params).fetchall()
        print(f"{(time.perf_counter() - t) / a.repeat * 1000:8.3f} ms  {name}")


if __name__ == "__main__":
    main()

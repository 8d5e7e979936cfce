# A connection an app keeps open, in Python's sqlite3: the same commands as reader-process.js.
#   python3 reader-process.py DATABASE [ro]
# "ro" opens it read-only (file:...?mode=ro); without it, as most apps do, read-write.
import json
import sqlite3
import sys

path = sys.argv[1]
if len(sys.argv) > 2 and sys.argv[2] == "ro":
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=5)
else:
    db = sqlite3.connect(path, isolation_level=None, timeout=5)


def check():
    rev, total, total_sum, n = db.execute(
        "SELECT (SELECT rev FROM totals), (SELECT total FROM totals), (SELECT sum(v) FROM t), (SELECT count(*) FROM t)"
    ).fetchone()
    return {"rev": rev, "whole": total == total_sum and n == 3000}


def warm():
    db.execute("PRAGMA shrink_memory")
    db.execute("SELECT rev, total FROM totals").fetchall()
    db.execute("SELECT sum(v) FROM t WHERE id <= 1500").fetchall()
    return {}


def begin():
    db.execute("BEGIN")
    return check()


def commit():
    db.execute("COMMIT")
    return {}


ops = {"warm": warm, "check": check, "begin": begin, "commit": commit}
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    op = json.loads(line)["op"]
    try:
        answer = {"ok": True, **ops[op]()}
    except sqlite3.Error as error:
        answer = {"ok": False, "code": getattr(error, "sqlite_errorname", None), "message": str(error)}
    print(json.dumps(answer), flush=True)

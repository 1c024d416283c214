"""The Python peer of `cargo bench -p cdc-source --bench binlog`: reads the
same binlog range with python-mysql-replication (PyPI `mysql-replication`),
decoding every row of the benchmark table into Python values, and prints
`rows seconds max_rss_kb`.

usage: python_binlog.py HOST PORT USER PASSWORD FILE POS DB TABLE ROWS SERVER_ID FLAVOR [CA_FILE]

FLAVOR is mysql or mariadb; with CA_FILE the connection uses TLS verified against it.
"""

import sys
import time

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

host, port, user, password, log_file, log_pos, db, table, rows, server_id, flavor = sys.argv[1:12]
settings = {"host": host, "port": int(port), "user": user, "passwd": password}
if len(sys.argv) > 12:
    settings["ssl"] = {"ca": sys.argv[12], "check_hostname": False}
stream = BinLogStreamReader(
    connection_settings=settings,
    server_id=int(server_id),
    log_file=log_file,
    log_pos=int(log_pos),
    resume_stream=True,
    blocking=True,
    only_events=[WriteRowsEvent],
    only_schemas=[db],
    only_tables=[table],
    is_mariadb=flavor == "mariadb",
)
start = time.perf_counter()
seen = 0
for event in stream:
    for row in event.rows:
        seen += 1
        _ = row["values"]
    if seen >= int(rows):
        break
elapsed = time.perf_counter() - start
stream.close()
# VmHWM, not getrusage: ru_maxrss keeps the parent's peak across fork + exec.
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(seen, f"{elapsed:.3f}", peak_kb)

"""gunicorn settings for Numina (`gunicorn numina.wsgi` picks this file up).

Threads per worker because a Numina request mostly waits on PostgreSQL and Redis.
Prometheus counters live in each worker process; with PROMETHEUS_MULTIPROC_DIR set,
/metrics adds up all of them (prometheus_client's multiprocess mode).
"""

import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # "" turns it off
# The path without its query string (%(U)s, not the request line %(r)s) and no Referer:
# both carry ?q= search terms, which are the user's words and stay out of the logs.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))

if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="numina-metrics-")


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

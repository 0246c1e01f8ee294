"""gunicorn settings for Numina (`gunicorn numina.asgi` picks this file up).

uvicorn workers (numina/serving.py) serve numina/asgi.py: the live event streams as
coroutines on each worker's event loop, everything else in two pools of threads per
worker (numina/pools.py): GUNICORN_THREADS for the quick requests, NUMINA_WAITING_THREADS
for those that wait long on the model, a download or an upload.
Prometheus counters live in each worker process; with PROMETHEUS_MULTIPROC_DIR set,
/metrics adds up all of them (prometheus_client's multiprocess mode).
"""

import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# GUNICORN_THREADS (default 2) and NUMINA_WAITING_THREADS (default 16): the two pools'
# threads per worker, read by numina/asgi.py.
worker_class = "numina.serving.Worker"
# numina/asgi.py writes each line: the path without its query string and no Referer
# (both carry ?q= search terms, which are the user's words and stay out of the logs).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # "" turns it off
# With uvicorn workers this is the heartbeat of a worker's event loop, not a request's
# time limit: an event stream stays open for hours.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))

if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="numina-metrics-")

# Imported here, once the directory is set (prometheus_client reads it at import), not
# inside child_exit: that runs in gunicorn's SIGCHLD handling, and a second worker exiting
# while the first import was under way re-entered it (an ImportError at every shutdown).
from prometheus_client import multiprocess  # noqa: E402


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)

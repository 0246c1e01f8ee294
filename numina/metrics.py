"""Numina's own Prometheus counters (django-prometheus adds requests, database and cache).

Counted after commit where a count is of stored things, so a rolled-back write never
shows. Under gunicorn, set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) so /metrics
adds up every worker process.
"""

from prometheus_client import Counter, Gauge

messages_stored = Counter("numina_messages_stored", "Messages stored", ["role"])
conversations_created = Counter("numina_conversations_created", "Conversations created", ["source"])
titles = Counter("numina_titles", "Conversation titles by outcome", ["outcome"])
summaries = Counter("numina_summaries", "Rolling summaries by outcome", ["outcome"])
model_tokens = Counter("numina_model_tokens", "Model tokens", ["direction"])
cache_requests = Counter("numina_cache_requests", "Cache reads by outcome", ["kind", "outcome"])
legacy_messages_migrated = Counter(
    "numina_legacy_messages_migrated", "Messages brought over from legacy Redis memory"
)
# Open event streams (/api/v1/events/); "livesum": the sum over the live worker processes.
event_streams = Gauge(
    "numina_event_streams", "Open live event streams", multiprocess_mode="livesum"
)
events_sent = Counter("numina_events_sent", "Live events sent", ["kind"])

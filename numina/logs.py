"""Log filters of Numina's own."""

import logging


class TaskIdFilter(logging.Filter):
    """Puts the running Celery task's id on each log record ("-" outside a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from celery import current_task

        request = getattr(current_task, "request", None)
        record.task_id = getattr(request, "id", None) or "-"
        return True

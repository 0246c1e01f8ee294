from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the tasks under their names in every process, not only the worker:
        # followups.py sends them by name, and in eager mode (the embedded default, no
        # worker) runs the registered task in process.
        # Every PostgreSQL connection parses timestamps with psycopg's C loader.
        from numina import database

        from . import tasks  # noqa: F401

        database.install()

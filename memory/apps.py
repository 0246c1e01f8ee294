from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the extraction task under its name in every process (followups.py
        # sends it by name; in eager mode it runs in process).
        from . import tasks  # noqa: F401

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import services
        from .models import password_saved

        # Here rather than in models.py: the services import the models, not the reverse.
        password_saved.connect(
            services.revoke_all_tokens_after_password_saved,
            dispatch_uid="accounts.revoke_all_tokens_after_password_saved",
        )

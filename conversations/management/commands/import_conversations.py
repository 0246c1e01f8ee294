"""``manage.py import_conversations FILE --user NAME``: an operator's import of a whole
export for one user, through the same service as POST /api/v1/import/
(services.bulk_import), always in this process, however large the file."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conversations import sources
from conversations.services import bulk_import


class Command(BaseCommand):
    help = (
        "Import a Numina archive, a ChatGPT or Claude.ai conversations.json (or export ZIP) "
        "or an Open WebUI chat export into one user's account."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="The username to import for.")

    def handle(self, *args, file: Path, user: str, **options) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        try:
            bulk_import.check_upload_size(size=file.stat().st_size)
            upload = sources.read_upload(file.read_bytes())
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        except sources.BadUpload as exc:
            raise CommandError(exc.detail) from None
        outcome = bulk_import.import_upload(user=owner, upload=upload)
        for error in outcome.errors:
            self.stderr.write(f"{error['item']}: {error['detail']}")
        self.stdout.write(
            f"{upload.format}: {outcome.created} created, {outcome.updated} updated, "
            f"{outcome.skipped} skipped, {len(outcome.errors)} errors"
        )

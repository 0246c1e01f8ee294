"""``manage.py migrate_conversations``: legacy Redis chat memory into PostgreSQL.

Thin: it parses options, shows a progress bar on a terminal, and prints the report.
The work is ``conversations.management.legacy_run``; the writes are
``conversations.services.legacy_import``. See LEGACY.md for the layouts.
"""

from __future__ import annotations

import json
import os
import sys

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conversations.legacy import registry
from conversations.management.legacy_run import Options, UserMapError, load_user_map, run_migration


class Command(BaseCommand):
    help = "Bring legacy Redis chat memory (every layout of LEGACY.md) into PostgreSQL."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--redis-url",
            default=settings.NUMINA_LEGACY_REDIS_URL,
            help="The legacy Redis, database number included (default: %(default)s).",
        )
        parser.add_argument(
            "--match",
            action="append",
            dest="patterns",
            metavar="PATTERN",
            help="SCAN pattern; repeatable. Default '*': llamaindex keys have any name.",
        )
        parser.add_argument(
            "--format", choices=sorted(registry.BY_NAME), help="Force a layout for every key."
        )
        owner = parser.add_mutually_exclusive_group()
        owner.add_argument(
            "--user",
            help="The username that owns every key found; it wins over a user-session "
            "key's own userId.",
        )
        owner.add_argument("--user-map", help="CSV file with the header legacy_id,username.")
        parser.add_argument(
            "--trust-data-user-ids",
            action="store_true",
            help="Give a user-session key that --user/--user-map do not assign to the account "
            "named by its own userId; the report lists every key assigned so.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Read and report only.")
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help="Delete each key once imported, if it did not change since it was read.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.NUMINA_MIGRATE_BATCH_SIZE,
            help="Keys per SCAN page and pipelined read (default: %(default)s).",
        )
        parser.add_argument(
            "--batch-conversations",
            type=int,
            default=settings.NUMINA_LEGACY_BATCH_CONVERSATIONS,
            help="Conversations per transaction, all or nothing; at most --batch-size "
            "(default: %(default)s).",
        )
        parser.add_argument("--json", action="store_true", help="The report as JSON on stdout.")

    def handle(self, *args, **options) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["batch_conversations"] < 1:
            raise CommandError("--batch-conversations must be at least 1.")
        if options["dry_run"] and options["delete_source"]:
            raise CommandError("--dry-run and --delete-source exclude each other.")
        username = options["user"]
        if username and not get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"No user named {username!r}.")
        try:
            user_map = load_user_map(options["user_map"]) if options["user_map"] else None
        except (OSError, UserMapError) as exc:
            raise CommandError(str(exc)) from None
        run_options = Options(
            redis_url=options["redis_url"],
            patterns=tuple(options["patterns"] or ["*"]),
            layout=options["format"],
            username=username,
            user_map=user_map,
            trust_data_user_ids=options["trust_data_user_ids"],
            dry_run=options["dry_run"],
            delete_source=options["delete_source"],
            batch_size=options["batch_size"],
            batch_conversations=options["batch_conversations"],
        )
        bar = self._progress_bar(enabled=not options["json"])
        try:
            report = run_migration(options=run_options, on_key=bar.on_key if bar else None)
        except redis.RedisError as exc:
            # What was committed stays; a re-run carries on from there.
            raise CommandError(f"Legacy Redis at {options['redis_url']}: {exc}") from None
        finally:
            if bar:
                bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(report.as_text())
        if not report.ok:
            raise CommandError(
                f"{report.bad_item_count} bad item(s), {report.failed_key_count} failed key(s).",
                returncode=1,
            )

    def _progress_bar(self, *, enabled: bool) -> _Progress | None:
        # Only a person at a terminal wants a bar; logs and pipes get the report alone.
        if not enabled or not sys.stderr.isatty():
            return None
        return _Progress()


class _Progress:
    """A tqdm bar counting keys, with the messages imported so far beside it."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.messages = 0
        try:
            columns, lines = os.get_terminal_size(sys.stderr.fileno())
        except OSError:
            columns, lines = 0, 0
        # A terminal that reports no size (a bare pty) would hide the bar entirely.
        self.bar = tqdm(
            unit=" keys", desc="migrating", file=sys.stderr, ncols=columns or 80, nrows=lines or 24
        )

    def on_key(self, imported: int) -> None:
        self.messages += imported
        self.bar.set_postfix(messages=self.messages, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

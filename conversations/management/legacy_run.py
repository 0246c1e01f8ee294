"""The migration run of ``manage.py migrate_conversations``: scan the legacy Redis, read
each key, resolve its owner (a database lookup), import (the services' writes).

Beside the command it runs, not in ``legacy/``: the readers there never touch the database.

Keys are read in batches of ``batch_size`` (one SCAN page, one pipelined round of
snapshots, read ahead of the writes in a thread), and their conversations are written
``batch_conversations`` to a transaction, all or nothing, so memory stays flat however
many keys there are and a run killed at any point resumes where it stopped. One bad item
or one failing key is reported and never stops the rest: a batch that fails is written
again key by key, each in its own transaction, so only the failing key is lost.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, connections

from ..legacy import registry
from ..legacy.base import BadItem, Layout, Reading, Snapshot
from ..legacy.report import (
    COMPANION,
    EMPTY,
    EXPIRED,
    KEY_TOO_LONG,
    REFUSED,
    UNKNOWN_LAYOUT,
    UNRESOLVED_OWNER,
    Report,
)
from ..legacy.snapshot import LegacyRedis
from ..services.legacy_import import (
    ImportOutcome,
    LegacyImport,
    import_legacy_batch,
    import_legacy_conversation,
    refresh_planner_statistics,
    relaxed_commits,
    stored_conversations,
)

logger = logging.getLogger(__name__)

LEGACY_KEY_MAX_LENGTH = 1024  # Conversation.legacy_key's column


class UserMapError(ValueError):
    pass


@dataclass(frozen=True)
class Options:
    redis_url: str
    patterns: Sequence[str] = ("*",)
    layout: str | None = None  # forced layout name; None detects each key's
    username: str | None = None
    user_map: dict[str, str] | None = None
    # Take a user-session key's own userId as its owner's username (LEGACY.md): off by
    # default, since whoever signed up under that name first would get the history.
    trust_data_user_ids: bool = False
    dry_run: bool = False
    delete_source: bool = False
    batch_size: int = 500
    # Conversations per transaction (NUMINA_LEGACY_BATCH_CONVERSATIONS); at most
    # batch_size, since a transaction never spans two read batches.
    batch_conversations: int = field(
        default_factory=lambda: settings.NUMINA_LEGACY_BATCH_CONVERSATIONS
    )
    # Messages after which a transaction ends early (NUMINA_LEGACY_BATCH_MESSAGES; see
    # _transactions); None: only batch_conversations bounds it.
    batch_messages: int | None = field(
        default_factory=lambda: settings.NUMINA_LEGACY_BATCH_MESSAGES
    )


def load_user_map(path: str | Path) -> dict[str, str]:
    """``legacy_id,username`` rows of the operator's CSV file (LEGACY.md)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"legacy_id", "username"} <= set(reader.fieldnames):
            raise UserMapError(f"{path}: the header row must be legacy_id,username")
        mapping = {}
        for line, row in enumerate(reader, start=2):
            legacy_id, username = (row["legacy_id"] or "").strip(), (row["username"] or "").strip()
            if not legacy_id or not username:
                raise UserMapError(f"{path}, line {line}: legacy_id and username are required")
            mapping[legacy_id] = username
    return mapping


@dataclass(frozen=True)
class Owner:
    user: AbstractBaseUser
    from_data: bool  # named by the key's own data (--trust-data-user-ids), not the operator


class Owners:
    """Whose each key is: the map first, then --user, then (only when the operator
    trusts it) the data's own user.

    Never a guess: a key none of these names, or naming a user who does not exist, is
    unresolved. Users are looked up once per name.
    """

    def __init__(
        self,
        *,
        username: str | None,
        user_map: dict[str, str] | None,
        trust_data_user_ids: bool = False,
    ) -> None:
        self.username = username
        self.user_map = user_map or {}
        self.trust_data_user_ids = trust_data_user_ids
        self._users: dict[str, object | None] = {}

    def resolve(self, *, layout: Layout, key: str, reading: Reading) -> Owner | None:
        name = self.user_map.get(layout.legacy_id(key)) or self.username
        from_data = False
        if not name and self.trust_data_user_ids and reading.owner_name:
            name, from_data = reading.owner_name, True
        if not name:
            return None
        user = self._user(name)
        return Owner(user=user, from_data=from_data) if user is not None else None

    def _user(self, name: str):
        if name not in self._users:
            self._users[name] = get_user_model().objects.filter(username=name).first()
        return self._users[name]


def _layout_for(snapshot: Snapshot, forced: str | None) -> Layout | None:
    if forced is None:
        return registry.detect(snapshot)
    layout = registry.BY_NAME[forced]
    return layout if snapshot.redis_type == layout.redis_type else None


@dataclass(frozen=True)
class _Read:
    """One key as the reader thread hands it over: snapshot, layout and messages."""

    snapshot: Snapshot
    layout: Layout | None
    reading: Reading | None


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def _read_key(layout: Layout, snapshot: Snapshot) -> Reading:
    """The layout's reading of one key; a reader that fails on a value it did not foresee
    makes that key one bad item, since an error here would end the whole run."""
    try:
        return layout.read(snapshot)
    except Exception as exc:  # noqa: BLE001 (a reader's bug on one key is that key's bad item)
        return Reading(bad_items=[BadItem(position=None, reason=f"unreadable: {exc!r}"[:200])])


def _reads(
    keys: Iterable[bytes], *, source: LegacyRedis, options: Options
) -> Iterator[list[_Read]]:
    """Batches of keys read (one pipeline each), detected and parsed."""
    batch: list[bytes] = []

    def read(batch: list[bytes]) -> list[_Read]:
        reads = []
        for snapshot in source.snapshots(batch):
            layout = None
            if snapshot.redis_type != "none":
                layout = _layout_for(snapshot, options.layout)
            reads.append(_Read(snapshot, layout, _read_key(layout, snapshot) if layout else None))
        return reads

    for key in keys:
        batch.append(key)
        if len(batch) >= options.batch_size:
            yield read(batch)
            batch = []
    if batch:
        yield read(batch)


def _read_ahead(batches: Iterator[list[_Read]], *, depth: int) -> Iterator[list[_Read]]:
    """Run ``batches`` in a thread, at most ``depth`` batches ahead of the writes.

    Reading Redis and parsing JSON then overlap the database's work on the previous
    batch (psycopg releases the GIL while it waits), and memory stays bounded. An error
    in the reader is raised here, in the caller's thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as exc:  # noqa: BLE001 (handed to the caller's thread, raised there)
            put(_Failed(exc))
            return
        put(_END)

    thread = threading.Thread(target=produce, name="legacy-reader", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class _Job:
    """A key that passed every check: its messages go to ``user`` under ``legacy_key``."""

    read: _Read
    reading: Reading  # the read's, known to be there once the key passed
    user: AbstractBaseUser
    legacy_key: str
    owner_from_data: bool = False


def _prepare(read: _Read, *, owners: Owners, report: Report) -> _Job | None:
    """Count the key and decide whether it is imported; skips are reported here."""
    snapshot, layout, reading = read.snapshot, read.layout, read.reading
    key = snapshot.key
    report.keys_scanned += 1
    if snapshot.redis_type == "none":
        report.skip(key, EXPIRED)
        return None
    if layout is None or reading is None:
        report.skip(key, COMPANION if registry.is_companion(key) else UNKNOWN_LAYOUT)
        return None
    for item in reading.bad_items:
        report.bad_item(key, item.position, item.reason)
    if not reading.messages and not reading.summary:
        if not reading.bad_items:
            report.skip(key, EMPTY)
        return None
    owner = owners.resolve(layout=layout, key=key, reading=reading)
    if owner is None:
        report.skip(key, UNRESOLVED_OWNER)
        return None
    legacy_key = f"{layout.name}:{snapshot.db}:{key}"
    if len(legacy_key) > LEGACY_KEY_MAX_LENGTH:
        report.skip(key, KEY_TOO_LONG)
        return None
    return _Job(
        read=read,
        reading=reading,
        user=owner.user,
        legacy_key=legacy_key,
        owner_from_data=owner.from_data,
    )


def _import(job: _Job, stored, *, source: LegacyRedis, options: Options, report: Report) -> int:
    """Import one prepared key in its own transaction; returns the messages imported."""
    try:
        outcome = import_legacy_conversation(
            user=job.user,
            legacy_key=job.legacy_key,
            messages=job.reading.messages,
            summary=job.reading.summary,
            dry_run=options.dry_run,
            stored=stored,
        )
    except Exception as exc:  # noqa: BLE001 (one failing key must not stop the others)
        report.failed(job.read.snapshot.key, f"{type(exc).__name__}: {exc}")
        return 0
    return _record(job, outcome, source=source, options=options, report=report)


def _record(
    job: _Job, outcome: ImportOutcome, *, source: LegacyRedis, options: Options, report: Report
) -> int:
    """Count a committed key's outcome (and delete its source key if asked)."""
    snapshot, reading = job.read.snapshot, job.reading
    if outcome.refused:
        report.skip(snapshot.key, REFUSED)
        return 0
    if job.owner_from_data:
        report.owner_from_data(snapshot.key, job.user.get_username())
    report.conversations_created += outcome.created
    report.conversations_updated += bool(outcome.imported and not outcome.created)
    report.messages_imported += outcome.imported
    report.messages_already_present += outcome.already_present
    if options.delete_source and not options.dry_run and not reading.bad_items:
        if source.delete_if_unchanged(snapshot):
            report.keys_deleted += 1
        else:
            report.keys_kept_changed += 1
    return outcome.imported


def _transactions(
    jobs: Sequence[_Job], *, size: int, messages: int | None = None
) -> Iterator[list[_Job]]:
    """The jobs in groups of at most ``size``, each holding a legacy key once (SCAN may
    return a key twice: the second then goes into the next group, after the first).

    ``messages``: a group also ends once it holds that many messages, so long keys make
    short transactions: with several writers, a group's rows are built while another's
    are written, and smaller groups overlap better (measured in migrate_bench: at 50
    messages a key, 0.79 of COPY's rate with groups of 200 keys, 0.93 with 50), while
    keys of a message or two still go many to a transaction."""
    group: list[_Job] = []
    keys: set[str] = set()
    held = 0
    for job in jobs:
        full = len(group) >= size or (messages is not None and held >= messages)
        if group and (full or job.legacy_key in keys):
            yield group
            group, keys, held = [], set(), 0
        group.append(job)
        keys.add(job.legacy_key)
        held += len(job.reading.messages)
    if group:
        yield group


def _write_group(jobs: Sequence[_Job], stored, *, options: Options) -> list[ImportOutcome]:
    """A group of keys written in one transaction (``import_legacy_batch``), in whichever
    thread runs it; raises when the transaction failed and nothing of it was kept."""
    imports = [
        LegacyImport(
            user=job.user,
            legacy_key=job.legacy_key,
            messages=job.reading.messages,
            summary=job.reading.summary,
            stored=stored.get(job.legacy_key),
        )
        for job in jobs
    ]
    return import_legacy_batch(imports=imports, dry_run=options.dry_run)


def _settle_group(
    jobs: Sequence[_Job],
    stored,
    written: list[ImportOutcome] | BaseException,
    *,
    source: LegacyRedis,
    options: Options,
    report: Report,
) -> list[int]:
    """Record a group's written outcomes; the messages imported per key.

    Should its transaction have failed (a key whose row PostgreSQL refuses, a concurrent
    run that created one of the conversations first), nothing of it was kept and the
    group is imported again key by key, each key in its own transaction: the failing key
    is reported and every other one is stored, as if the run had never batched.
    """
    if isinstance(written, BaseException):
        logger.info("A batch of %d legacy keys failed; importing it key by key", len(jobs))
        return [
            _import(job, stored.get(job.legacy_key), source=source, options=options, report=report)
            for job in jobs
        ]
    return [
        _record(job, outcome, source=source, options=options, report=report)
        for job, outcome in zip(jobs, written, strict=True)
    ]


_Group = tuple[list[_Job], dict]


class _Writers:
    """``writers`` threads, each with a database connection of its own, writing groups
    of keys (``_write_group``) while this thread reads, prepares and records.

    One writer leaves the server idle while Python builds the next group's rows, and
    Python idle while the server runs the COPY, the foreign-key checks and the commit
    (measured: about 40 % of a run's time each). With two, one group's rows are built
    while another's are being written. Each group is still one transaction of its own,
    all or nothing; groups may commit in any order, which a re-run after a kill does not
    mind (each key is either fully stored or not at all). The outcomes are handed back
    in the order the groups were given, so the report reads as with one writer.

    With one writer there are no threads: ``submit`` writes the group in the calling
    thread, on its connection, and ``ahead`` is 0 (settle each group at once).
    """

    def __init__(self, *, writers: int, options: Options, relaxed: bool) -> None:
        self.options = options
        self.relaxed = relaxed
        self.todo: queue.Queue = queue.Queue(maxsize=writers)
        threaded = writers > 1
        # Groups that may be written but not yet settled.
        self.ahead = writers if threaded else 0
        self.threads = [
            threading.Thread(target=self._work, name=f"legacy-writer-{n}", daemon=True)
            for n in range(writers if threaded else 0)
        ]
        for thread in self.threads:
            thread.start()

    def _answer(self, group: _Group, done: queue.Queue) -> None:
        jobs, stored = group
        try:
            done.put(_write_group(jobs, stored, options=self.options))
        except Exception as exc:  # noqa: BLE001 (settled key by key in the caller)
            done.put(exc)

    def _work(self) -> None:
        # Every group given gets an answer, whatever fails (the connection's set-up
        # included): the caller waits for each one, and settles a failed one key by key.
        try:
            with contextlib.ExitStack() as commits:
                relaxed = False
                while (item := self.todo.get()) is not _END:
                    group, done = item
                    try:
                        if self.relaxed and not relaxed:
                            commits.enter_context(relaxed_commits())
                            relaxed = True
                    except Exception as exc:  # noqa: BLE001 (settled key by key in the caller)
                        done.put(exc)
                        continue
                    self._answer(group, done)
        except Exception:  # only relaxed_commits' RESET, on a lost connection
            logger.warning("a legacy writer's connection failed at its end", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection

    def submit(self, group: _Group) -> queue.Queue:
        """Where the group's outcomes (or the error that rolled it back) will arrive."""
        done: queue.Queue = queue.Queue(maxsize=1)
        if self.threads:
            self.todo.put((group, done))
        else:
            self._answer(group, done)
        return done

    def close(self) -> None:
        for _ in self.threads:
            self.todo.put(_END)
        for thread in self.threads:
            thread.join()


def writer_count(*, options: Options) -> int:
    """How many connections write at once: NUMINA_LEGACY_WRITERS on PostgreSQL, else one
    (SQLite takes one writer at a time). Also one when the caller holds a transaction:
    other connections could not see what it has not committed (its users, say), and a
    dry run writes nothing."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or options.dry_run:
        return 1
    return max(1, settings.NUMINA_LEGACY_WRITERS)


def migrate_keys(
    keys: Iterable[bytes],
    *,
    source: LegacyRedis,
    options: Options,
    owners: Owners,
    report: Report,
    on_key: Callable[[int], None] | None = None,
    relaxed: bool = False,
) -> None:
    """Migrate the given keys; ``on_key(messages imported)`` once for each of them.

    Reading and parsing run ahead in a thread of their own; the groups' transactions run
    in ``writer_count`` writers (``_Writers``; with one, in the calling thread).
    Per read batch, one lookup finds what is already stored; its keys are then written
    ``options.batch_conversations`` to a transaction. ``relaxed``: the writers' commits
    do not wait for the disk (``relaxed_commits``), as the caller's do.
    """
    batches = _read_ahead(_reads(keys, source=source, options=options), depth=2)
    pool = _Writers(writers=writer_count(options=options), options=options, relaxed=relaxed)
    # Groups given to the writers, oldest first, with where each one's outcome arrives.
    in_flight: collections.deque[tuple[_Group, queue.Queue]] = collections.deque()

    def settle_oldest() -> None:
        (jobs, stored), done = in_flight.popleft()
        imported = _settle_group(
            jobs, stored, done.get(), source=source, options=options, report=report
        )
        if on_key is not None:
            for count in imported:
                on_key(count)

    try:
        for batch in batches:
            jobs = []
            for read in batch:
                job = _prepare(read, owners=owners, report=report)
                if job is not None:
                    jobs.append(job)
                elif on_key is not None:
                    on_key(0)
            stored = stored_conversations(
                legacy_keys=[job.legacy_key for job in jobs],
                limit=max((len(job.reading.messages) for job in jobs), default=0),
            )
            for group in _transactions(
                jobs, size=options.batch_conversations, messages=options.batch_messages
            ):
                # A group already being written may hold a key of this one (SCAN can
                # return a key twice): that one commits first, as with one writer.
                group_keys = {job.legacy_key for job in group}
                while in_flight and any(
                    job.legacy_key in group_keys for (earlier, _), _ in in_flight for job in earlier
                ):
                    settle_oldest()
                in_flight.append(((group, stored), pool.submit((group, stored))))
                while len(in_flight) > pool.ahead:
                    settle_oldest()
        while in_flight:
            settle_oldest()
    finally:
        pool.close()


def run_migration(*, options: Options, on_key: Callable[[int], None] | None = None) -> Report:
    """Migrate every key of the legacy Redis that the options' patterns match."""
    source = LegacyRedis(options.redis_url)
    report = Report(dry_run=options.dry_run)
    owners = Owners(
        username=options.username,
        user_map=options.user_map,
        trust_data_user_ids=options.trust_data_user_ids,
    )
    keys = source.scan(options.patterns, count=options.batch_size)
    # A source about to be deleted needs each commit on disk before its key goes.
    relaxed = not options.delete_source
    with relaxed_commits() if relaxed else contextlib.nullcontext():
        migrate_keys(
            keys,
            source=source,
            options=options,
            owners=owners,
            report=report,
            on_key=on_key,
            relaxed=relaxed,
        )
    if report.messages_imported >= settings.NUMINA_LEGACY_ANALYZE_AFTER:
        refresh_planner_statistics()
    return report

"""The migration's report: counts, skipped keys by reason, bad items with their key.

Lists are capped (NUMINA_MIGRATE_REPORT_LIMIT entries each) so the report, like the
rest of the run, does not grow with the number of keys; the counts are always whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

EXPIRED = "expired"
EMPTY = "empty"
UNKNOWN_LAYOUT = "unknown layout"
UNRESOLVED_OWNER = "unresolved owner"
COMPANION = "companion key"
KEY_TOO_LONG = "key too long"
REFUSED = "owned by another user"


@dataclass
class Report:
    dry_run: bool = False
    keys_scanned: int = 0
    conversations_created: int = 0
    conversations_updated: int = 0
    messages_imported: int = 0
    messages_already_present: int = 0
    keys_deleted: int = 0
    keys_kept_changed: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_keys: dict[str, list[str]] = field(default_factory=dict)
    bad_item_count: int = 0
    bad_items: list[dict[str, Any]] = field(default_factory=list)
    failed_key_count: int = 0
    failed_keys: list[dict[str, str]] = field(default_factory=list)
    # Keys whose owner their own data named (--trust-data-user-ids): key → username.
    data_owner_count: int = 0
    data_owners: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.bad_item_count and not self.failed_key_count

    def _room(self, entries: list) -> bool:
        return len(entries) < settings.NUMINA_MIGRATE_REPORT_LIMIT

    def skip(self, key: str, reason: str) -> None:
        self.skipped[reason] += 1
        listed = self.skipped_keys.setdefault(reason, [])
        if self._room(listed):
            listed.append(key)

    def bad_item(self, key: str, position: int | None, reason: str) -> None:
        self.bad_item_count += 1
        if self._room(self.bad_items):
            self.bad_items.append({"key": key, "position": position, "reason": reason})

    def failed(self, key: str, error: str) -> None:
        self.failed_key_count += 1
        if self._room(self.failed_keys):
            self.failed_keys.append({"key": key, "error": error})

    def owner_from_data(self, key: str, username: str) -> None:
        self.data_owner_count += 1
        if len(self.data_owners) < settings.NUMINA_MIGRATE_REPORT_LIMIT:
            self.data_owners[key] = username

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "keys_scanned": self.keys_scanned,
            "conversations_created": self.conversations_created,
            "conversations_updated": self.conversations_updated,
            "messages_imported": self.messages_imported,
            "messages_already_present": self.messages_already_present,
            "keys_deleted": self.keys_deleted,
            "keys_kept_changed": self.keys_kept_changed,
            "skipped": dict(self.skipped),
            "skipped_keys": self.skipped_keys,
            "bad_item_count": self.bad_item_count,
            "bad_items": self.bad_items,
            "failed_key_count": self.failed_key_count,
            "failed_keys": self.failed_keys,
            "data_owner_count": self.data_owner_count,
            "data_owners": self.data_owners,
            "ok": self.ok,
        }

    def as_text(self) -> str:
        verb = "would be " if self.dry_run else ""
        rows = [
            ("keys scanned", self.keys_scanned),
            (f"conversations {verb}created", self.conversations_created),
            (f"conversations {verb}updated", self.conversations_updated),
            (f"messages {verb}imported", self.messages_imported),
            ("messages already present", self.messages_already_present),
        ]
        if self.keys_deleted or self.keys_kept_changed:
            rows += [
                ("source keys deleted", self.keys_deleted),
                ("source keys kept (changed)", self.keys_kept_changed),
            ]
        lines = ["Dry run: nothing was written." if self.dry_run else "Migration finished."]
        lines += [f"  {label + ':':<36}{value}" for label, value in rows]
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  skipped, {reason}: {count}")
            lines += [f"    {key}" for key in self.skipped_keys.get(reason, [])]
            if count > len(self.skipped_keys.get(reason, [])):
                lines.append(f"    … and {count - len(self.skipped_keys[reason])} more")
        lines.append(f"  bad items: {self.bad_item_count}")
        for item in self.bad_items:
            where = "value" if item["position"] is None else f"item {item['position']}"
            lines.append(f"    {item['key']} {where}: {item['reason']}")
        if self.data_owner_count:
            lines.append(f"  owners named by the data: {self.data_owner_count}")
            lines += [f"    {key} → {name}" for key, name in self.data_owners.items()]
            if self.data_owner_count > len(self.data_owners):
                lines.append(f"    … and {self.data_owner_count - len(self.data_owners)} more")
        if self.failed_key_count:
            lines.append(f"  keys failed: {self.failed_key_count}")
            lines += [f"    {entry['key']}: {entry['error']}" for entry in self.failed_keys]
        return "\n".join(lines)

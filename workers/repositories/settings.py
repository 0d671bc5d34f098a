"""Users' settings per user, category and key, with a by-category index, and the tombstones
that deletes leave so that an older value arriving late cannot revive a deleted setting.

A tombstone is `(user, category, key) -> version` plus a time-ordered entry, so the dedupe
expiry can forget the ones older than the horizon in O(expired). Reads never see them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from events.enums import SettingCategory
from workers.ids import to_ms
from workers.records import Setting, legacy_version, version_time
from workers.repositories.base import (
    DEFAULT_PAGE,
    Index,
    Page,
    Repository,
    Spec,
    expire_before,
    scan,
)
from workers.store.keys import TenantKeys
from workers.store.port import Transaction


class SettingRepository(Repository):
    def set(self, tr: Transaction, setting: Setting) -> Setting | None:
        """Upsert; returns the previous setting, if any. The index key never changes."""
        tk = self.keys.tenant(setting.tenant_id)
        key = tk.settings.key(setting.user_id, setting.category.value, setting.key)
        previous = tr.get(key)
        tr.set(key, setting.to_json())
        tr.set(_index_key(tk, setting), b"")
        return Setting.model_validate_json(previous) if previous is not None else None

    def apply_change(
        self,
        tr: Transaction,
        tenant_id: UUID,
        user_id: UUID,
        category: SettingCategory,
        key: str,
        version: str,
        setting: Setting | None,
    ) -> bool:
        """Fold one change at `version` (`version_of` its event): `setting` sets, None deletes
        and leaves a tombstone. False, changing nothing, when the stored value or tombstone is
        newer: last writer wins by (occurred_at, event_id), whatever the arrival order."""
        tk = self.keys.tenant(tenant_id)
        record_key = tk.settings.key(user_id, category.value, key)
        tomb_key = tk.setting_tombstones.key(user_id, category.value, key)
        raw, tomb = tr.get_many([record_key, tomb_key])
        current = Setting.model_validate_json(raw) if raw is not None else None
        newest = max(_version(current) if current else "", tomb.decode() if tomb else "")
        if version <= newest:
            return False
        if tomb is not None:
            tr.clear(tomb_key)
            tr.clear(_tomb_by_ms(tk, tomb.decode(), user_id, category, key))
        if setting is not None:
            tr.set(record_key, setting.to_json())
            if current is None:
                tr.set(_index_key(tk, setting), b"")
            return True
        if current is not None:
            tr.clear(record_key)
            tr.clear(_index_key(tk, current))
        tr.set(tomb_key, version.encode())
        tr.set(_tomb_by_ms(tk, version, user_id, category, key), b"")
        return True

    def expire_tombstones(
        self,
        tr: Transaction,
        tenant_id: UUID,
        cutoff_ms: int,
        limit: int,
        after: bytes | None = None,
        dry_run: bool = False,
    ) -> tuple[int, int, bytes | None]:
        """Forget up to `limit` tombstones of deletes that occurred before `cutoff_ms`: past the
        dedupe horizon an event is judged against the compacted state. `dry_run` only counts."""
        tk = self.keys.tenant(tenant_id)
        return expire_before(
            tr,
            tk.setting_tombstones_by_ms,
            cutoff_ms,
            limit,
            after,
            dry_run,
            lambda tail: tk.setting_tombstones.key(*tail[1:]),  # tail: (ms, user, category, key)
        )

    def get(
        self, tr: Transaction, tenant_id: UUID, user_id: UUID, category: SettingCategory, key: str
    ) -> Setting | None:
        raw = tr.get(self.keys.tenant(tenant_id).settings.key(user_id, category.value, key))
        return Setting.model_validate_json(raw) if raw is not None else None

    def get_all(
        self,
        tr: Transaction,
        tenant_id: UUID,
        user_id: UUID,
        category: SettingCategory | None = None,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Setting]:
        """A user's settings, all categories or one."""
        tk = self.keys.tenant(tenant_id)
        head = (user_id,) if category is None else (user_id, category.value)
        rows, nxt = scan(tr, tk.settings.range(*head), limit, after)
        return Page([Setting.model_validate_json(v) for _, v in rows], nxt)

    def delete(
        self, tr: Transaction, tenant_id: UUID, user_id: UUID, category: SettingCategory, key: str
    ) -> Setting | None:
        old = self.get(tr, tenant_id, user_id, category, key)
        if old is not None:
            tk = self.keys.tenant(tenant_id)
            tr.clear(tk.settings.key(user_id, category.value, key))
            tr.clear(_index_key(tk, old))
        return old

    def erase_user_batch(self, tr: Transaction, tenant_id: UUID, user_id: UUID, limit: int) -> int:
        """Remove up to `limit` of the user's settings and delete tombstones, with their index
        entries (an erasure); 0 when none is left."""
        tk = self.keys.tenant(tenant_id)
        removed = 0
        for key, raw in tr.get_range(*tk.settings.range(user_id), limit=limit):
            tr.clear(key)
            tr.clear(_index_key(tk, Setting.model_validate_json(raw)))
            removed += 1
        for key, version in tr.get_range(*tk.setting_tombstones.range(user_id), limit=limit):
            _, category, name = tk.setting_tombstones.tail(key)
            tr.clear(key)
            tr.clear(_tomb_by_ms(tk, version.decode(), user_id, SettingCategory(category), name))
            removed += 1
        return removed

    def list_by_category(
        self,
        tr: Transaction,
        tenant_id: UUID,
        category: SettingCategory,
        limit: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Page[Setting]:
        """Every user's settings in one category (e.g. to roll out a theme default)."""
        tk = self.keys.tenant(tenant_id)
        rows, nxt = scan(tr, tk.settings_by_category.range(category.value), limit, after)
        keys = [
            tk.settings.key(*_setting_id(tk.settings_by_category.tail(k), b"")) for k, _ in rows
        ]
        return Page(
            [Setting.model_validate_json(r) for r in tr.get_many(keys) if r is not None], nxt
        )

    def spec(self) -> Spec[Setting]:
        return Spec(
            name="settings",
            records=lambda tk: tk.settings,
            record_id=lambda tail: tail,
            load=lambda tr, tk, ident: self.get(
                tr, tk.tenant_id, ident[0], SettingCategory(ident[1]), ident[2]
            ),
            entries=lambda tk, s: {_index_key(tk, s): b""},
            indexes=[
                Index("settings_by_category", lambda tk: tk.settings_by_category, _setting_id)
            ],
        )


def _version(s: Setting) -> str:
    """A setting's version; one written before versions sorts first among its instant's."""
    return s.version or legacy_version(s.updated_at)


def _tomb_by_ms(
    tk: TenantKeys, version: str, user_id: UUID, category: SettingCategory | str, key: str
) -> bytes:
    cat = category.value if isinstance(category, SettingCategory) else category
    return tk.setting_tombstones_by_ms.key(to_ms(version_time(version)), user_id, cat, key)


def _index_key(tk: TenantKeys, s: Setting) -> bytes:
    return tk.settings_by_category.key(s.category.value, s.user_id, s.key)


def _setting_id(tail: tuple[Any, ...], value: bytes) -> tuple[Any, ...]:
    category, user_id, key = tail
    return (user_id, category, key)

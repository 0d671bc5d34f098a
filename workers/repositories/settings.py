"""Users' settings per user, category and key, with a by-category index."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from events.enums import SettingCategory
from workers.records import Setting
from workers.repositories.base import DEFAULT_PAGE, Index, Page, Repository, Spec, scan
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


def _index_key(tk: TenantKeys, s: Setting) -> bytes:
    return tk.settings_by_category.key(s.category.value, s.user_id, s.key)


def _setting_id(tail: tuple[Any, ...], value: bytes) -> tuple[Any, ...]:
    category, user_id, key = tail
    return (user_id, category, key)

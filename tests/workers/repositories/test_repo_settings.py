"""SettingRepository: upserts per user, category and key, with a by-category index."""

from __future__ import annotations

from uuid import uuid4

from repo_helpers import Make, at, walk

from events.enums import SettingCategory
from workers.repositories import Repositories
from workers.store.sqlite import SqliteStore

EDITOR, THEME = SettingCategory.EDITOR, SettingCategory.THEME


async def test_set_upserts_and_returns_the_previous_setting(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    first = make.setting(value=12)
    assert await store.transact(lambda tr: repos.settings.set(tr, first)) is None
    second = make.setting(value={"size": 14, "family": "mono"}, updated_at=at(5))
    assert await store.transact(lambda tr: repos.settings.set(tr, second)) == first
    got = await store.transact(
        lambda tr: repos.settings.get(tr, make.tenant_id, make.user_id, EDITOR, "font_size")
    )
    assert got == second


async def test_get_of_an_unset_key_is_none(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    await store.transact(lambda tr: repos.settings.set(tr, make.setting()))
    got = await store.transact(
        lambda tr: repos.settings.get(tr, make.tenant_id, make.user_id, THEME, "font_size")
    )
    assert got is None


async def test_get_all_returns_a_users_settings_for_every_category_or_one(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    editor = [make.setting(key=k) for k in ("tab_width", "font_size", "wrap")]
    theme = [make.setting(category=THEME, key=k) for k in ("name", "accent")]
    stranger = make.setting(user_id=uuid4())
    await store.transact(
        lambda tr: [repos.settings.set(tr, s) for s in [*editor, *theme, stranger]]
    )
    t, u = make.tenant_id, make.user_id
    everything = await walk(
        store, lambda tr, after: repos.settings.get_all(tr, t, u, limit=2, after=after)
    )
    assert everything == sorted(editor, key=lambda s: s.key) + sorted(theme, key=lambda s: s.key)
    only_theme = await store.transact(lambda tr: repos.settings.get_all(tr, t, u, THEME))
    assert only_theme.items == sorted(theme, key=lambda s: s.key)


async def test_delete_removes_the_setting_and_its_category_entry(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    setting = make.setting()
    await store.transact(lambda tr: repos.settings.set(tr, setting))
    t, u, key = make.tenant_id, make.user_id, "font_size"
    assert await store.transact(lambda tr: repos.settings.delete(tr, t, u, EDITOR, key)) == setting
    assert await store.transact(lambda tr: repos.settings.delete(tr, t, u, EDITOR, key)) is None
    assert await store.transact(lambda tr: repos.settings.get(tr, t, u, EDITOR, key)) is None
    listed = await store.transact(lambda tr: repos.settings.list_by_category(tr, t, EDITOR))
    assert listed.items == []


async def test_list_by_category_spans_users(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    users = [uuid4() for _ in range(4)]
    themes = [make.setting(user_id=u, category=THEME, key="name", value="dark") for u in users]
    editors = [make.setting(user_id=u) for u in users]
    await store.transact(lambda tr: [repos.settings.set(tr, s) for s in themes + editors])
    t = make.tenant_id
    listed = await walk(
        store, lambda tr, after: repos.settings.list_by_category(tr, t, THEME, 3, after)
    )
    assert listed == sorted(themes, key=lambda s: s.user_id)

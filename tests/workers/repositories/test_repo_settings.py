"""SettingRepository: upserts per user, category and key, with a by-category index."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from repo_helpers import Make, at, walk

from events.enums import SettingCategory
from workers.records import version_of
from workers.repositories import Repositories
from workers.repositories.integrity import check
from workers.store.port import Transaction
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


def _v(minutes: float) -> str:
    return version_of(at(minutes), UUID(int=1))


async def test_apply_change_keeps_the_newest_and_a_delete_leaves_a_tombstone(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    t, u = make.tenant_id, make.user_id

    def change(minutes: float, value: int | None) -> Callable[[Transaction], bool]:
        s = None if value is None else make.setting(value=value, version=_v(minutes))
        return lambda tr: repos.settings.apply_change(tr, t, u, EDITOR, "font_size", _v(minutes), s)

    def value(tr: Transaction) -> object:
        found = repos.settings.get(tr, t, u, EDITOR, "font_size")
        return found.value if found else None

    assert await store.transact(change(2, 12))
    assert not await store.transact(change(1, 10))  # older: changes nothing
    assert await store.transact(change(3, None))
    assert not await store.transact(change(2.5, 11))  # older than the tombstone
    assert await store.read(value) is None
    assert await store.read(lambda tr: repos.settings.list_by_category(tr, t, EDITOR).items) == []
    assert await store.transact(change(4, 14))  # newer: revives
    assert await store.read(value) == 14
    assert (await check(store, repos)).clean


async def test_tombstones_past_the_horizon_expire_in_batches(
    store: SqliteStore, repos: Repositories, make: Make
) -> None:
    t, u = make.tenant_id, make.user_id
    keys = [f"k{i}" for i in range(5)]
    ages = [10, 9, 8, 1, 0]  # days before `now`; the horizon is 7

    def delete_all(tr: Transaction) -> None:
        for k, days in zip(keys, ages, strict=True):
            repos.settings.apply_change(tr, t, u, EDITOR, k, _v(-days * 24 * 60), None)

    await store.transact(delete_all)
    result = await repos.cleanup_past_horizon(store, t, 7, now=at(), batch=2)
    assert (result.removed, result.batches) == (3, 4)  # no marks, 2 of tombstones, no histories

    def late_sets(tr: Transaction) -> list[bool]:
        """A set older than every delete: only the expired tombstones let it through."""
        old = _v(-20 * 24 * 60)
        return [
            repos.settings.apply_change(tr, t, u, EDITOR, k, old, make.setting(key=k, version=old))
            for k in keys
        ]

    assert await store.transact(late_sets) == [True, True, True, False, False]

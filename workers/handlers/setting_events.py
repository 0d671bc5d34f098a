"""setting.changed: last writer wins per (user, category, key), by (occurred_at, event_id).

The stored setting is what the newest change says, whatever order the changes arrive in: a
delete leaves a tombstone that an older value cannot revive, and a newer value replaces. The
tombstone lasts as long as the dedupe horizon (`Config.dedupe_horizon_days`; the dedupe
expiry forgets both): an event older than that is judged against the compacted state, so an
older value arriving after its delete's tombstone expired sets the setting again.

The audit record describes the event alone (no old value, no "stale"), so it is the same in
any arrival order.
"""

from __future__ import annotations

from events import AuditEventType, SettingChanged
from workers.handlers.unit import Unit
from workers.records import Setting, version_of


def on_setting_changed(unit: Unit, event: SettingChanged) -> None:
    version = version_of(event.occurred_at, event.event_id)
    setting = (
        None
        if event.deleted
        else Setting(
            tenant_id=event.tenant_id,
            user_id=event.user_id,
            category=event.category,
            key=event.key,
            value=event.value,
            updated_at=event.occurred_at,
            version=version,
        )
    )
    unit.repos.settings.apply_change(
        unit.tr, event.tenant_id, event.user_id, event.category, event.key, version, setting
    )
    where = dict(category=event.category.value, key=event.key)
    if event.deleted:
        unit.audit(event, AuditEventType.SETTING_DELETED, **where)
    else:
        unit.audit(event, AuditEventType.SETTING_CHANGED, **where, new_value=event.value)

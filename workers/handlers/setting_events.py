"""setting.changed: upsert or delete a user's setting, audited with the old and new value."""

from __future__ import annotations

from events import AuditEventType, SettingChanged
from workers.handlers.unit import Unit
from workers.records import Setting


def on_setting_changed(unit: Unit, event: SettingChanged) -> None:
    repos, tr = unit.repos, unit.tr
    where = dict(category=event.category.value, key=event.key)
    if event.deleted:
        old = repos.settings.delete(tr, event.tenant_id, event.user_id, event.category, event.key)
        unit.audit(
            event, AuditEventType.SETTING_DELETED, **where, old_value=old.value if old else None
        )
        return
    current = repos.settings.get(tr, event.tenant_id, event.user_id, event.category, event.key)
    if current is not None and current.updated_at > event.occurred_at:
        unit.audit(event, AuditEventType.SETTING_CHANGED, **where, stale=True)
        return  # an older change arriving late never overwrites a newer one
    repos.settings.set(
        tr,
        Setting(
            tenant_id=event.tenant_id,
            user_id=event.user_id,
            category=event.category,
            key=event.key,
            value=event.value,
            updated_at=event.occurred_at,
        ),
    )
    unit.audit(
        event,
        AuditEventType.SETTING_CHANGED,
        **where,
        old_value=current.value if current else None,
        new_value=event.value,
    )

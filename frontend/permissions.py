"""Who may watch a group's live dashboard.

Decision (documented in docs/SERVICES.md, frontend section): a group's *public parameters* and
its pseudonymous member list are visible to every signed-in user (so recruiting groups can be
found and joined). Its *live round data* (the dashboard and the websocket /ws/groups/<id>/) is
visible to the group's members (applied or active), its initiator, staff, and users in the
``auditor`` group. Everyone else is refused (websocket close code 4403, page 403). A group
marked ``public`` (the demo's) is read-only open to everyone, signed in or not.
"""

from __future__ import annotations

AUDITOR_GROUP = "auditor"


def is_auditor(user) -> bool:
    """Staff and members of the ``auditor`` group may inspect everything (read-only)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_staff or user.groups.filter(name=AUDITOR_GROUP).exists())


def can_watch_group(user, group) -> bool:
    """True if ``user`` may see ``group``'s live round data."""
    if group.public:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if group.initiator_id == user.id or is_auditor(user):
        return True
    return group.members.filter(user=user, status__in=["applied", "active"]).exists()

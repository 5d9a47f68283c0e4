"""Live dashboard websocket: pushes a group's protocol events to the users allowed to see it.

Protocol: on connect the server sends ``{"type": "snapshot", ...}`` (see
``frontend.selectors.dashboard_snapshot``), then every event published with
``deepchain_web.events.publish(group_id, ...)``. The client may send ``{"action": "snapshot"}``
to get a fresh snapshot (it does so, debounced, after events, and after a reconnect).
Close codes: 4401 not signed in (for a group that is not public), 4404 no such group, 4403
not allowed to watch it.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from deepchain_web.events import address_channel_name, group_channel_name


@database_sync_to_async
def _load(group_id: int, user):
    from training_app.models import CooperativeGroup

    from .permissions import can_watch_group

    group = CooperativeGroup.objects.filter(pk=group_id).first()
    if group is None:
        return None, False
    return group, can_watch_group(user, group)


@database_sync_to_async
def _snapshot(group) -> dict:
    from .selectors import dashboard_snapshot

    return dashboard_snapshot(group)


class GroupDashboardConsumer(AsyncJsonWebsocketConsumer):
    """Refuses anonymous and unauthorised sockets; joins the channel group ``group.<id>``."""

    async def _refuse(self, code: int) -> None:
        # Accept, then close: a close before accept is a bare HTTP 403 without the code.
        await self.accept()
        await self.close(code=code)

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.group_id = int(self.scope["url_route"]["kwargs"]["group_id"])
        group, allowed = await _load(self.group_id, user)
        if not allowed and (user is None or not user.is_authenticated):
            await self._refuse(4401)  # (a public group is open to visitors too)
            return
        if group is None:
            await self._refuse(4404)
            return
        if not allowed:
            await self._refuse(4403)
            return
        self.group = group
        self.channel_group = group_channel_name(self.group_id)
        self.address_group = address_channel_name(group.address)  # its blocks, from the ledger
        await self.channel_layer.group_add(self.channel_group, self.channel_name)
        await self.channel_layer.group_add(self.address_group, self.channel_name)
        await self.accept()
        await self.send_json(await _snapshot(self.group))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "channel_group"):
            await self.channel_layer.group_discard(self.channel_group, self.channel_name)
            await self.channel_layer.group_discard(self.address_group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("action") == "snapshot":
            await self.send_json(await _snapshot(self.group))

    async def protocol_event(self, event: dict) -> None:
        await self.send_json(event["payload"])

"""Live dashboard websocket: pushes a group's protocol events to the users allowed to see it."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from deepchain_web.events import group_channel_name


class GroupDashboardConsumer(AsyncJsonWebsocketConsumer):
    """Refuses anonymous sockets; joins the channel-layer group of one cooperative group."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group_id = int(self.scope["url_route"]["kwargs"]["group_id"])
        self.channel_group = group_channel_name(self.group_id)
        await self.channel_layer.group_add(self.channel_group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "group": self.group_id})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "channel_group"):
            await self.channel_layer.group_discard(self.channel_group, self.channel_name)

    async def protocol_event(self, event: dict) -> None:
        await self.send_json(event["payload"])

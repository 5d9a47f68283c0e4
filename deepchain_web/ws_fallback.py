"""The websocket answer for a path no route matches: accept, then close with 4404."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer

NO_ROUTE = 4404


class NoRouteConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        # Accept, then close: a close before accept is a bare HTTP 403 without the code.
        await self.accept()
        await self.close(code=NO_ROUTE)

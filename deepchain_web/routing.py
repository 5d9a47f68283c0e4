"""Websocket routes (each consumer checks authentication and permissions itself); a path
matching no route is accepted and closed with code 4404, never a server error."""

from django.urls import path, re_path

from deepchain_web.ws_fallback import NoRouteConsumer
from frontend.consumers import GroupDashboardConsumer

websocket_urlpatterns = [
    path("ws/groups/<int:group_id>/", GroupDashboardConsumer.as_asgi()),
    re_path(r"", NoRouteConsumer.as_asgi()),
]

"""Websocket routes (each consumer checks authentication and permissions itself)."""

from django.urls import path

from frontend.consumers import GroupDashboardConsumer

websocket_urlpatterns = [
    path("ws/groups/<int:group_id>/", GroupDashboardConsumer.as_asgi()),
]

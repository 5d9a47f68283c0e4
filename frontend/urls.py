from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as static_serve
from django.urls import path, re_path
from django.views.generic import RedirectView

from . import api, api_docs, explorer_views, views

urlpatterns = [
    # REST (under /api/auth/; the apps' include("api/") falls through to here)
    path("api/auth/token/", api.TokenView.as_view(), name="api_token"),
    path("api/auth/me/", api.MeView.as_view(), name="api_me"),
    # accounts
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="frontend/accounts/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/token/create/", views.token_create, name="token_create"),
    path("accounts/token/revoke/", views.token_revoke, name="token_revoke"),
    # groups
    path("groups/", views.group_list, name="group_list"),
    path("groups/new/", views.group_create, name="group_create"),
    path("groups/new/costs.json", views.group_costs_json, name="group_costs_json"),
    path("groups/<int:group_id>/", views.group_detail, name="group_detail"),
    path("groups/<int:group_id>/join/", views.group_join, name="group_join"),
    path(
        "groups/<int:group_id>/approve/<int:membership_id>/",
        views.group_approve,
        name="group_approve",
    ),
    path("groups/<int:group_id>/start/", views.group_start, name="group_start"),
    path("groups/<int:group_id>/abort/", views.group_abort, name="group_abort"),
    path("groups/<int:group_id>/status.json", views.group_status_json, name="group_status_json"),
    path("groups/<int:group_id>/dashboard/", views.group_dashboard, name="group_dashboard"),
    # wallet, assets, explorer
    path("wallet/", views.wallet, name="wallet"),
    path("assets/", views.asset_list, name="asset_list"),
    path("explorer/", explorer_views.explorer, name="explorer"),
    path("explorer/blocks/<int:height>/", explorer_views.block_detail, name="block_detail"),
    path("explorer/tx/<str:tx_hash>/", explorer_views.tx_detail, name="tx_detail"),
    # Static files through Django (Daphne serves no files itself; fine at this scale, put a
    # CDN-less reverse proxy in front for heavy production use).
    # ReDoc's bundle (settings REDOC_DIST points here), see frontend.api_docs
    path("docs-assets/redoc/bundles/redoc.standalone.js", api_docs.redoc_bundle, name="redoc_js"),
    path("favicon.ico", RedirectView.as_view(url="/static/frontend/favicon.svg", permanent=True)),
    re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
]

"""REST routes of collaborative training (included at /api/)."""

from django.urls import path

from training_app import api, ceremony_api, round_api

urlpatterns = [
    path("agents/register/", api.AgentRegisterView.as_view(), name="api_agent_register"),
    path("groups/", api.GroupListView.as_view(), name="api_groups"),
    path("groups/mine/", api.MyGroupsView.as_view(), name="api_my_groups"),
    path("groups/<int:group_id>/", api.GroupDetailView.as_view(), name="api_group"),
    path("groups/<int:group_id>/join/", api.JoinView.as_view(), name="api_group_join"),
    path("groups/<int:group_id>/start/", api.StartView.as_view(), name="api_group_start"),
    path("groups/<int:group_id>/heartbeat/", api.HeartbeatView.as_view(),
         name="api_group_heartbeat"),
    path("groups/<int:group_id>/abort/", api.AbortView.as_view(), name="api_group_abort"),
    path("groups/<int:group_id>/me/", api.MeView.as_view(), name="api_group_me"),
    path("groups/<int:group_id>/round/", round_api.RoundStateView.as_view(),
         name="api_round_state"),
    path("groups/<int:group_id>/rounds/<int:number>/params/", round_api.ParamsView.as_view(),
         name="api_round_params"),
    path("groups/<int:group_id>/rounds/<int:number>/gradient/", round_api.GradientView.as_view(),
         name="api_round_gradient"),
    path("groups/<int:group_id>/rounds/<int:number>/aggregate/", round_api.AggregateView.as_view(),
         name="api_round_aggregate"),
    path("groups/<int:group_id>/rounds/<int:number>/share/", round_api.ShareView.as_view(),
         name="api_round_share"),
    path("groups/<int:group_id>/rounds/<int:number>/refusal/", round_api.RefusalView.as_view(),
         name="api_round_refusal"),
    path("groups/<int:group_id>/rounds/<int:number>/result/", round_api.ResultView.as_view(),
         name="api_round_result"),
    path("groups/<int:group_id>/rounds/<int:number>/metrics/", round_api.MetricsView.as_view(),
         name="api_round_metrics"),
    path("groups/<int:group_id>/ceremony/", ceremony_api.CeremonyView.as_view(),
         name="api_ceremony"),
    path("groups/<int:group_id>/ceremony/messages/", ceremony_api.MessagesView.as_view(),
         name="api_ceremony_messages"),
    path("groups/<int:group_id>/ceremony/inbox/<int:number>/", ceremony_api.InboxView.as_view(),
         name="api_ceremony_inbox"),
    path("groups/<int:group_id>/ceremony/result/", ceremony_api.ResultView.as_view(),
         name="api_ceremony_result"),
    path("groups/<int:group_id>/ceremony/blame/", ceremony_api.BlameView.as_view(),
         name="api_ceremony_blame"),
]  # fmt: skip

"""Read-only admin of collaborative training for auditors (staff): groups, memberships, rounds,
submissions and metrics, filterable by round, phase and status. Nothing can be added, changed
or deleted here: the services are the only writers (ledger_app.admin.ReadOnlyAdminMixin)."""

from __future__ import annotations

from django.contrib import admin

from ledger_app.admin import ReadOnlyAdminMixin
from training_app.models import CooperativeGroup, Membership, Metric, Round, Submission


class AuditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_per_page = 100


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    fields = ("party_index", "user", "account", "status", "behaviour", "simulated",
              "data_size", "stake_remaining")  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(CooperativeGroup)
class CooperativeGroupAdmin(AuditAdmin):
    list_display = ("id", "name", "address", "status", "n_parties", "threshold", "rounds",
                    "current_round", "model_name", "partition", "deposit", "key_bits",
                    "created_at")  # fmt: skip
    list_filter = ("status", "model_name", "partition", "key_bits")
    search_fields = ("name", "address", "initiator__username")
    exclude = ("public_key",)  # public, but a 2048-bit key is a wall of digits
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditAdmin):
    list_display = ("id", "group", "party_index", "user", "account", "status", "behaviour",
                    "simulated", "stake_remaining")  # fmt: skip
    list_filter = ("status", "behaviour", "simulated", "group")
    search_fields = ("user__username", "account__address", "group__name", "group__address")
    exclude = ("sealed_key_share",)  # sealed to its party; useless to an auditor


@admin.register(Round)
class RoundAdmin(AuditAdmin):
    list_display = ("id", "group", "number", "phase", "n_accepted", "accuracy", "loss",
                    "status_reason", "started_at", "finished_at")  # fmt: skip
    list_filter = ("phase", "number", "group")
    search_fields = ("group__name", "group__address", "status_reason", "aggregate_blob")


@admin.register(Submission)
class SubmissionAdmin(AuditAdmin):
    list_display = ("id", "round", "party", "kind", "status", "size_bytes", "reason",
                    "submitted_at")  # fmt: skip
    list_filter = ("status", "kind", "round__phase", "round__number", "round__group")
    search_fields = ("membership__account__address", "blob", "reason")
    list_select_related = ("round__group", "membership")

    @admin.display(description="party")
    def party(self, obj: Submission) -> str:
        return f"{obj.membership.party_index}"


@admin.register(Metric)
class MetricAdmin(AuditAdmin):
    list_display = ("id", "round", "party", "accuracy", "loss", "bytes_sent", "created_at")
    list_filter = ("round__number", "round__phase", "round__group")
    list_select_related = ("round__group", "membership")

    @admin.display(description="party")
    def party(self, obj: Metric) -> str:
        return "collaborative" if obj.membership is None else str(obj.membership.party_index)

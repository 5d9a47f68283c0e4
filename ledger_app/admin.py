"""Read-only admin for auditors: every ledger model, a "verify chain" page/action and the
penalty history. No add/change/delete, not even for superusers (the ledger is append-only)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ledger_app import selectors
from ledger_app.models import (
    Account,
    Asset,
    Block,
    ConsensusAttempt,
    ConsensusEvent,
    ConsensusVote,
    LedgerEntry,
    Transaction,
    WorkerNode,
)

# The audit lists need the page's width at 1366 px; the app index stays one click away.
admin.site.enable_nav_sidebar = False


class ReadOnlyAdminMixin:
    """Mix into a ModelAdmin to make it view-only for everyone (reusable by other apps); its
    pages fit their columns and long signed bytes into the page (``ledger_app/admin.css``)."""

    class Media:
        css = {"all": ("ledger_app/admin.css",)}

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


def _verify_response(modeladmin, request):
    verdict = selectors.verify_chain()
    penalties = Transaction.objects.filter(kind="penalty").order_by("-id")[:200]
    ctx = {
        **modeladmin.admin_site.each_context(request),
        "title": "Chain audit",
        "verdict": verdict,
        "penalties": penalties,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/ledger_app/verify_chain.html", ctx)


@admin.action(description="Verify the whole chain (audit)")
def verify_chain_action(modeladmin, request, queryset):
    verdict = selectors.verify_chain()
    level = messages.SUCCESS if verdict.ok else messages.ERROR
    modeladmin.message_user(request, verdict.verdict(), level=level)


class LedgerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    actions = [verify_chain_action]

    def get_actions(self, request):
        # keep the audit action (Django hides actions when no change permission is granted)
        return {"verify_chain_action": (verify_chain_action, "verify_chain_action",
                                        verify_chain_action.short_description)}  # fmt: skip


@admin.register(Block)
class BlockAdmin(LedgerAdmin):
    list_display = ("height", "short_hash", "leader_short", "consensus_round", "tx_count",
                    "created_at")  # fmt: skip
    list_filter = ("consensus_round",)
    search_fields = ("block_hash", "prev_hash", "merkle_root", "leader")
    change_list_template = "admin/ledger_app/block_changelist.html"

    @admin.display(description="hash")
    def short_hash(self, obj: Block) -> str:
        return obj.block_hash[:16]

    @admin.display(description="leader")
    def leader_short(self, obj: Block) -> str:
        return obj.leader[:16]

    def get_urls(self):
        own = [
            path("verify/", self.admin_site.admin_view(self.verify_view),
                 name="ledger_app_block_verify"),
        ]  # fmt: skip
        return own + super().get_urls()

    def verify_view(self, request):
        return _verify_response(self, request)


@admin.register(Transaction)
class TransactionAdmin(LedgerAdmin):
    list_display = ("short_hash", "kind", "status", "sender_short", "group_short", "round",
                    "phase", "block_link", "created")  # fmt: skip
    list_filter = ("kind", "status", "round", "phase", "group_ref")
    search_fields = ("tx_hash", "sender", "group_ref", "reason")

    @admin.display(description="hash")
    def short_hash(self, obj: Transaction) -> str:
        return obj.tx_hash[:12]

    @admin.display(description="sender")
    def sender_short(self, obj: Transaction) -> str:
        return obj.sender[:12]

    @admin.display(description="group", ordering="group_ref")
    def group_short(self, obj: Transaction) -> str:
        return obj.group_ref[:14] or "-"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Transaction) -> str:
        return obj.created_at.strftime("%m-%d %H:%M:%S")

    @admin.display(description="block")
    def block_link(self, obj: Transaction) -> str:
        if obj.block_id is None:
            return "-"
        url = reverse("admin:ledger_app_block_change", args=[obj.block_id])
        return format_html('<a href="{}">#{}</a>', url, obj.block.height)


@admin.register(Account)
class AccountAdmin(LedgerAdmin):
    list_display = ("label", "kind", "address_short", "balance", "nonce", "user")
    list_filter = ("kind",)
    search_fields = ("address", "label", "user__username")

    @admin.display(description="address", ordering="address")
    def address_short(self, obj: Account) -> str:
        return obj.address if len(obj.address) <= 24 else f"{obj.address[:20]}…"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(LedgerAdmin):
    list_display = ("id", "account", "delta", "balance_after", "reason", "created_at")
    list_filter = ("account__kind",)
    search_fields = ("account__address", "transaction__tx_hash", "reason")


@admin.register(WorkerNode)
class WorkerNodeAdmin(LedgerAdmin):
    list_display = ("name", "behaviour", "height", "stake")
    list_filter = ("behaviour",)
    search_fields = ("name", "account__address")


@admin.register(ConsensusEvent)
class ConsensusEventAdmin(LedgerAdmin):
    list_display = ("id", "height", "consensus_round", "kind", "node", "created_at")
    list_filter = ("kind", "consensus_round")
    search_fields = ("kind", "detail")


@admin.register(ConsensusAttempt)
class ConsensusAttemptAdmin(LedgerAdmin):
    list_display = ("height", "consensus_round", "leader", "status", "reason", "created_at")
    list_filter = ("status", "consensus_round")
    search_fields = ("block_hash", "prev_hash")


@admin.register(ConsensusVote)
class ConsensusVoteAdmin(LedgerAdmin):
    list_display = ("attempt", "node", "accepted", "block_hash", "reason")
    list_filter = ("accepted",)
    search_fields = ("block_hash",)


@admin.register(Asset)
class AssetAdmin(LedgerAdmin):
    list_display = ("title", "owner", "n_blocks", "created_at")
    search_fields = ("title", "owner__address")

"""Server-rendered participant pages: accounts, groups, wallet, assets, dashboard (the
explorer's pages are in ``frontend.explorer_views``).

Views validate input with forms and call the apps' services (the only code that writes); a
refused business action (``DomainError``) is shown to the user as an error message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from deepchain_web.api_errors import DomainError
from ledger_app import services as ledger_services
from ledger_app.models import Account, Asset, Block, Transaction
from training_app import selectors as training_selectors
from training_app import services as training_services
from training_app.models import CooperativeGroup, Membership

from . import selectors, services
from .forms import AssetForm, GroupCreateForm, JoinForm, SignUpForm
from .labels import RUN_ORDER, phase_label
from .paging import page_of
from .permissions import can_watch_group, is_auditor

# --- accounts ------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    stats = {
        "blocks": Block.objects.count(),
        "txs": Transaction.objects.count(),
        "groups": CooperativeGroup.objects.count(),
    }
    demo = CooperativeGroup.objects.filter(public=True).order_by("-id").first()
    return render(request, "frontend/home.html", {"stats": stats, "demo": demo})


def signup(request: HttpRequest) -> HttpResponse:
    """Create the user, then its pseudonymous identity and wallet (with a faucet grant)."""
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
                ledger_services.create_party_account(user=user)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your wallet has been opened with a starting grant.")
            return redirect("profile")
    return render(request, "frontend/accounts/signup.html", {"form": form})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    account = Account.objects.filter(user=request.user).first()
    token = Token.objects.filter(user=request.user).first()
    return render(
        request,
        "frontend/accounts/profile.html",
        {"account": account, "token": token, "auditor": is_auditor(request.user)},
    )


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Create (or replace) the user's API token; the old one stops working at once."""
    services.replace_api_token(user=request.user)
    messages.success(request, "A new API token was created. Any previous token is revoked.")
    nxt = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    deleted = services.revoke_api_token(user=request.user)
    messages.success(request, "API token revoked." if deleted else "You had no API token.")
    return redirect("profile")


# --- groups --------------------------------------------------------------------------------


def _visible_groups(user):
    try:
        return training_selectors.visible_groups(user)
    except (ImportError, AttributeError):
        return CooperativeGroup.objects.all()


def group_list(request: HttpRequest) -> HttpResponse:
    """Recruiting, public (the demo's) and one's own groups; visitors see the public ones."""
    groups = _visible_groups(request.user).order_by("-public", "-id")
    mine = (
        set(Membership.objects.filter(user=request.user).values_list("group_id", flat=True))
        if request.user.is_authenticated
        else set()
    )
    return render(
        request,
        "frontend/groups/list.html",
        {"page": page_of(request, groups), "mine": mine},
    )


@login_required
def group_create(request: HttpRequest) -> HttpResponse:
    form = GroupCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        from .costs import expected_s, measured

        cost = measured(d["key_bits"], d["model_name"])
        expected = expected_s(d["key_bits"], d["model_name"], d["n_parties"],
                              d["local_iterations"], cost)  # fmt: skip
        derived = default_windows(d, cost) if form.needs_derived() else None
        windows = form.windows_s(derived)
        short = [f"{phase_label(p)} ({windows[p]} s; measured cost about {s:.0f} s)"
                 for p, s in expected.items() if windows[p] < s]  # fmt: skip
        try:
            group = training_services.create_group(
                initiator=request.user,
                name=d["name"],
                n_parties=d["n_parties"],
                threshold=d["threshold"],
                rounds=d["rounds"],
                deposit=d["deposit"],
                model_name=d["model_name"],
                partition=d["partition"],
                local_iterations=d["local_iterations"],
                deadlines=form.deadlines(derived),
                key_bits=d["key_bits"],
                strategy=d["strategy_obj"],
                min_contributors=d.get("min_contributors") or 3,
                simulated=d["simulated"],
                key_origin=d.get("key_origin") or training_services.DEALERLESS,
                l2_clip=d.get("l2_clip"),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Group “{group.name}” created. Invite parties to join.")
            if short:
                messages.warning(
                    request,
                    "Shorter than what it costs on this machine, so honest "
                    "parties risk being penalised as late: " + "; ".join(short),
                )
            return redirect("group_detail", group_id=group.id)
    return render(request, "frontend/groups/create.html", {"form": form})


def default_windows(d: dict, cost: dict | None = None) -> dict[str, int]:
    """Windows derived from the measured cost of the form's model and key size."""
    from .costs import default_windows_s

    return default_windows_s(d["key_bits"], d["model_name"], d["n_parties"],
                             d["local_iterations"], cost)  # fmt: skip


@login_required
def group_costs_json(request: HttpRequest) -> JsonResponse:
    """What a group of these settings costs here (expected seconds per long phase) and the
    default windows; the create form fetches it when the model, key size, N or K change."""
    from .costs import expected_s, measured
    from .forms import KEY_SIZES

    try:
        bits = int(request.GET.get("key_bits", ""))
        model = request.GET.get("model_name", "")
        n = min(16, max(2, int(request.GET.get("n_parties", "3"))))
        k = min(10_000, max(1, int(request.GET.get("local_iterations", "20"))))
    except ValueError:
        return JsonResponse({"message": "key_bits, n_parties and local_iterations must be "
                                        "integers", "code": "bad_request"}, status=400)  # fmt: skip
    if bits not in dict(KEY_SIZES) or model not in ("mlp", "tiny", "paper_cnn"):
        return JsonResponse({"message": "unknown model or key size", "code": "bad_request"},
                            status=400)  # fmt: skip
    cost = measured(bits, model)
    d = {"key_bits": bits, "model_name": model, "n_parties": n, "local_iterations": k}
    return JsonResponse({
        "expected_s": {p: round(v, 1) for p, v in expected_s(bits, model, n, k, cost).items()},
        "default_s": default_windows(d, cost),
        "ciphertexts": cost["ciphertexts"],
        "params": cost["params"],
    })  # fmt: skip


def _group_for(request: HttpRequest, group_id: int) -> CooperativeGroup:
    group = get_object_or_404(CooperativeGroup, pk=group_id)
    if not _visible_groups(request.user).filter(pk=group.pk).exists():
        raise Http404("No such group")
    return group


def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    """Parameters, members and their agents' status, the agent command, payoff rules."""
    group = _group_for(request, group_id)
    user = request.user
    members = list(group.members.select_related("user", "account").order_by("party_index", "id"))
    me = next((m for m in members if m.user_id == user.id), None)
    account = Account.objects.filter(user=user).first() if user.is_authenticated else None
    token = Token.objects.filter(user=user).first() if user.is_authenticated else None
    api_url = request.build_absolute_uri("/").rstrip("/")
    ctx = {
        "group": group,
        "members": selectors.member_rows(members, user),
        "initiator_name": training_selectors.shown_username(user, group.initiator),
        "me": me,
        "account": account,
        "custodial": selectors.is_custodial(account),
        "token": token,
        "agent_command": selectors.agent_command(api_url, group, user, token),
        "active": sum(1 for m in members if m.status == "active"),
        "is_initiator": user.is_authenticated and group.initiator_id == user.id,
        "can_watch": can_watch_group(user, group),
        "join_form": JoinForm(),
        "deadlines": [
            (t, phase_label(name), (group.deadlines or {}).get(name)) for t, name in RUN_ORDER
        ],
        "rounds": group.round_set.order_by("-number")[:10],
        "at_risk": group.deposit * (1 + 2 * group.rounds),
        "ended": group.status in ("finished", "aborted", "failed"),
    }
    return render(request, "frontend/groups/detail.html", ctx)


def group_status_json(request: HttpRequest, group_id: int) -> JsonResponse:
    """What the group page refreshes by itself: status and each member's agent status."""
    group = _group_for(request, group_id)
    members = list(group.members.select_related("user", "account").order_by("party_index", "id"))
    rows = selectors.member_rows(members)
    return JsonResponse({
        "status": group.status,
        "status_reason": group.status_reason,
        "all_online": bool(rows) and all(r["agent"]["online"] for r in rows
                                         if r["m"].status == "active"),
        "members": [{"id": r["m"].id, "agent": r["agent"], "index": r["m"].party_index,
                     "user": r["m"].user.username, "address": r["m"].account.address,
                     "data_size": r["m"].data_size, "status": r["m"].status,
                     "simulated": r["m"].simulated, "behaviour": r["m"].behaviour}
                    for r in rows],
    })  # fmt: skip


def _domain_action(request: HttpRequest, group_id: int, action, success: str) -> HttpResponse:
    try:
        action()
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("group_detail", group_id=group_id)


@login_required
@require_POST
def group_join(request: HttpRequest, group_id: int) -> HttpResponse:
    """Apply and stake the deposit d (wallet -> escrow); the service checks the balance."""
    group = _group_for(request, group_id)
    form = JoinForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The declared data size must be a non-negative number.")
        return redirect("group_detail", group_id=group.id)
    data_size = form.cleaned_data.get("data_size") or 0
    svc = training_services
    return _domain_action(
        request,
        group.id,
        lambda: svc.join_group(group=group, user=request.user, data_size=data_size),
        f"You joined “{group.name}” and staked a deposit of {group.deposit} DeepCoin.",
    )


@login_required
@require_POST
def group_abort(request: HttpRequest, group_id: int) -> HttpResponse:
    """The initiator aborts: open deposits and what is left of the stakes come back."""
    group = _group_for(request, group_id)
    reason = (request.POST.get("reason") or "")[:200]
    svc = training_services
    return _domain_action(
        request,
        group.id,
        lambda: svc.abort_group(group=group, by=request.user, reason=reason),
        "Group aborted: every open deposit and what is left of each stake was returned.",
    )


@login_required
@require_POST
def group_approve(request: HttpRequest, group_id: int, membership_id: int) -> HttpResponse:
    group = _group_for(request, group_id)
    membership = get_object_or_404(Membership, pk=membership_id, group=group)
    svc = training_services
    return _domain_action(
        request,
        group.id,
        lambda: svc.approve_member(group=group, membership=membership, by=request.user),
        "Member approved.",
    )


@login_required
@require_POST
def group_start(request: HttpRequest, group_id: int) -> HttpResponse:
    group = _group_for(request, group_id)
    svc = training_services
    return _domain_action(
        request,
        group.id,
        # Simulated party agents (Celery) reach this platform's REST API at this address.
        lambda: svc.start_group(
            group=group, by=request.user, api_url=request.build_absolute_uri("/").rstrip("/")
        ),
        "Group starting: key ceremony under way, round 1 follows.",
    )


def group_dashboard(request: HttpRequest, group_id: int) -> HttpResponse:
    group = _group_for(request, group_id)
    if not can_watch_group(request.user, group):
        raise PermissionDenied("Only members, the initiator and auditors may watch this group.")
    me = (
        Membership.objects.filter(group=group, user=request.user).exclude(party_index=None).first()
        if request.user.is_authenticated
        else None
    )
    ctx = {
        "group": group,
        "me": me,
        # in the order a round runs them (T7-T9 aggregate before T4-T6 decrypt)
        "phases": [(t, name, phase_label(name)) for t, name in RUN_ORDER],
        "ws_path": f"/ws/groups/{group.id}/",
    }
    return render(request, "frontend/groups/dashboard.html", ctx)


# --- wallet and assets ---------------------------------------------------------------------


@login_required
def wallet(request: HttpRequest) -> HttpResponse:
    account = Account.objects.filter(user=request.user).first()
    rows = selectors.wallet_rows(account) if account else []
    return render(
        request,
        "frontend/wallet.html",
        {"account": account, "page": page_of(request, rows),
         "held": selectors.held_in_groups(account) if account else []},
    )  # fmt: skip


@login_required
def asset_list(request: HttpRequest) -> HttpResponse:
    form = AssetForm()
    if request.method == "POST":
        form = AssetForm(request.POST, request.FILES)
        if form.is_valid():
            from .services import advertise_asset

            d = form.cleaned_data
            try:
                asset = advertise_asset(
                    user=request.user,
                    title=d["title"],
                    keywords=d["keywords"],
                    data_blocks=d["blocks"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, f"Asset “{asset.title}” advertised over {asset.n_blocks} blocks."
                )
                return redirect("asset_list")
    q = (request.GET.get("q") or "").strip().lower()
    assets = Asset.objects.select_related("owner", "transaction").order_by("-id")
    if q:
        assets = [
            a for a in assets[:500] if any(q in k for k in a.keywords) or q in a.title.lower()
        ]
    return render(
        request,
        "frontend/assets.html",
        {"form": form, "page": page_of(request, assets), "q": q},
    )

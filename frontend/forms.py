"""Forms of the participant pages (validation only; business actions live in services)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from deepchain.learning.strategies import RANGES as STRATEGY_RANGES
from deepchain.learning.strategies import Strategy, StrategyError
from deepchain_web.limits import INT32_MAX, INT64_MAX

PHASE_LABELS = [
    ("T1", "gradient_submission"),
    ("T2", "verification"),
    ("T3", "upload"),
    ("T4", "download"),
    ("T5", "decryption_share"),
    ("T6", "return"),
    ("T7", "update"),
    ("T8", "verify_aggregate"),
    ("T9", "append"),
]


class SignUpForm(UserCreationForm):
    """Django's user creation form; the view then opens the user's pseudonymous wallet."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


def _strategy_field(key: str, label: str, where: str) -> forms.FloatField:
    lo, hi = STRATEGY_RANGES[key]
    return forms.FloatField(
        min_value=lo, max_value=hi, required=False, label=label,
        help_text=f"{where}; {lo:g} to {hi:g}",
    )  # fmt: skip


class GroupCreateForm(forms.Form):
    """A cooperative group co (paper 4.2.4): N parties, threshold t, rounds, deposit d."""

    name = forms.CharField(max_length=120)
    task = forms.CharField(max_length=200, initial="MNIST digit classification")
    model_name = forms.ChoiceField(
        choices=[("mlp", "MLP"), ("tiny", "Tiny (fast demo)"), ("paper_cnn", "CNN (paper)")]
    )
    n_parties = forms.IntegerField(min_value=2, max_value=50, initial=3, label="Parties (N)")
    threshold = forms.IntegerField(min_value=1, max_value=50, initial=2, label="Threshold (t)")
    rounds = forms.IntegerField(min_value=1, max_value=100, initial=3)
    deposit = forms.IntegerField(
        min_value=1, max_value=INT64_MAX // 16, initial=100, label="Deposit d (DeepCoin)"
    )
    partition = forms.ChoiceField(choices=[("iid", "IID"), ("dirichlet", "Dirichlet (non-IID)")])
    local_iterations = forms.IntegerField(min_value=1, max_value=10_000, initial=20)
    strategy = forms.ChoiceField(
        choices=[
            ("fedavg", "FedAvg (the paper)"),
            ("fedavgm", "FedAvgM (server momentum)"),
            ("fedadam", "FedAdam"),
            ("fedyogi", "FedYogi"),
        ],
        initial="fedavg",
        label="Aggregation strategy",
        help_text="Server optimizer every party applies to the decrypted aggregate (blank "
        "parameters below take the strategy's defaults).",
    )
    server_lr = _strategy_field("server_lr", "Server learning rate", "fedavgm/fedadam/fedyogi")
    beta1 = _strategy_field("beta1", "Momentum beta1", "fedavgm/fedadam/fedyogi")
    beta2 = _strategy_field("beta2", "Second moment beta2", "fedadam/fedyogi")
    tau = _strategy_field("tau", "Adaptivity tau", "fedadam/fedyogi")
    prox_mu = _strategy_field(
        "mu", "FedProx mu", "proximal term in local training, any strategy; 0 = off"
    )
    phase_seconds = forms.IntegerField(
        min_value=1,
        max_value=86_400,
        initial=30,
        label="Seconds per phase",
        help_text="Each deadline T_t1..T_t9 is this long after the previous one.",
    )
    training_seconds = forms.IntegerField(
        min_value=1,
        max_value=86_400,
        required=False,
        label="Seconds for local training (T_t1)",
        help_text="The gradient-submission window, in which parties train; blank: as above.",
    )

    def clean(self) -> dict:
        data = super().clean()
        n, t = data.get("n_parties"), data.get("threshold")
        if n is not None and t is not None and t > n:
            raise forms.ValidationError("The threshold t cannot exceed the number of parties N.")
        if data.get("strategy"):
            values = {k: data.get(k) for k in ("server_lr", "beta1", "beta2", "tau")}
            try:
                data["strategy_obj"] = Strategy.from_options(
                    data["strategy"], mu=data.get("prox_mu"), **values
                )
            except StrategyError as exc:
                raise forms.ValidationError(f"Strategy: {exc}") from None
        return data

    def deadlines(self) -> dict[str, int]:
        """Per-phase durations in ms, keyed by the clock's phase names."""
        ms = int(self.cleaned_data["phase_seconds"]) * 1000
        out = {name: ms for _, name in PHASE_LABELS}
        if self.cleaned_data.get("training_seconds"):
            out["gradient_submission"] = int(self.cleaned_data["training_seconds"]) * 1000
        return out


class JoinForm(forms.Form):
    data_size = forms.IntegerField(
        min_value=0,
        max_value=INT32_MAX,
        initial=0,
        required=False,
        label="Declared data size (samples)",
    )


class AssetForm(forms.Form):
    """An asset statement over data blocks: an uploaded file (cut in blocks) or typed lines."""

    MAX_BLOCKS = 256
    BLOCK_BYTES = 1024

    title = forms.CharField(max_length=120)
    keywords = forms.CharField(
        max_length=400, help_text="Comma separated, e.g. mnist, digits, handwriting"
    )
    data_file = forms.FileField(
        required=False, help_text="Cut into 1 KiB blocks, tagged in your browser session."
    )
    declared_blocks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Or declare blocks: one per line (e.g. file digests).",
    )

    def clean_keywords(self) -> list[str]:
        words = [w.strip().lower() for w in self.cleaned_data["keywords"].split(",")]
        words = [w for w in dict.fromkeys(words) if w]
        if not words:
            raise forms.ValidationError("Give at least one keyword.")
        if any(len(w) > 40 for w in words):
            raise forms.ValidationError("Keywords are at most 40 characters.")
        return words[:20]

    def clean(self) -> dict:
        data = super().clean()
        blocks: list[bytes] = []
        upload = data.get("data_file")
        if upload is not None:
            if upload.size > self.MAX_BLOCKS * self.BLOCK_BYTES:
                raise forms.ValidationError(
                    f"The file is larger than {self.MAX_BLOCKS * self.BLOCK_BYTES} bytes."
                )
            raw = upload.read()
            blocks = [raw[i : i + self.BLOCK_BYTES] for i in range(0, len(raw), self.BLOCK_BYTES)]
        elif data.get("declared_blocks"):
            lines = [ln.strip() for ln in data["declared_blocks"].splitlines() if ln.strip()]
            blocks = [ln.encode() for ln in lines]
        if not blocks:
            raise forms.ValidationError("Upload a file or declare at least one data block.")
        if len(blocks) > self.MAX_BLOCKS:
            raise forms.ValidationError(f"At most {self.MAX_BLOCKS} blocks.")
        data["blocks"] = blocks
        return data


class SearchForm(forms.Form):
    q = forms.CharField(max_length=80, required=False, label="Block or transaction hash")

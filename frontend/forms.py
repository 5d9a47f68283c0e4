"""Forms of the participant pages (validation only; business actions live in services)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from deepchain.crypto.packing import L2_CLIP_MAX, L2_CLIP_MIN, l2_bound_error
from deepchain.learning.strategies import DEFAULT_STRATEGY, Strategy, StrategyError
from deepchain.learning.strategies import RANGES as STRATEGY_RANGES
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


KEY_SIZES = [
    (512, "512 bits (tests only: not secure)"),
    (1024, "1024 bits (quick demo)"),
    (2048, "2048 bits (recommended)"),
]


class GroupCreateForm(forms.Form):
    """A cooperative group co (paper 4.2.4): N parties, threshold t, rounds, deposit d, and a
    window per phase. Blank windows are derived from the measured cost of the chosen model and
    key size (``frontend.costs``); the page computes them live and warns below that cost."""

    name = forms.CharField(max_length=120, help_text="What the other parties see in the list.")
    task = forms.CharField(max_length=200, initial="MNIST digit classification")
    model_name = forms.ChoiceField(
        choices=[("mlp", "MLP"), ("tiny", "Tiny (fast demo)"), ("paper_cnn", "CNN (paper)")],
        label="Model",
        help_text="Bigger models train better and cost more ciphertexts per update; an update "
        "with its proofs must fit one upload (the CNN's is about 80 MB, over the default limit).",
    )
    key_bits = forms.TypedChoiceField(
        choices=KEY_SIZES, coerce=int, label="Paillier key size",
        help_text="The threshold key that encrypts every update; larger is slower and safer.",
    )  # fmt: skip
    n_parties = forms.IntegerField(
        min_value=3, max_value=16, initial=3, label="Parties (N)",
        help_text="How many parties train together; the group starts when all N have joined.",
    )  # fmt: skip
    threshold = forms.IntegerField(
        min_value=1, max_value=16, initial=2, label="Threshold (t)",
        help_text="Any t parties' decryption shares recover the aggregate; fewer learn nothing.",
    )  # fmt: skip
    rounds = forms.IntegerField(
        min_value=1, max_value=100, initial=3,
        help_text="Each round: train, encrypt, aggregate, decrypt together.",
    )  # fmt: skip
    min_contributors = forms.IntegerField(
        min_value=3, max_value=16, initial=3, required=False,
        label="Minimum contributors per round",
        help_text="A round with fewer accepted updates closes without any decryption.",
    )  # fmt: skip
    simulated = forms.BooleanField(
        required=False, label="Simulated (demo) group",
        help_text="The platform runs and holds the keys of the parties of a simulated group; "
        "a real group's parties run their own agent (python -m deepchain.party).",
    )  # fmt: skip
    key_origin = forms.ChoiceField(
        choices=[("dealerless", "Dealerless: the parties make it (key ceremony)"),
                 ("dealer", "Dealer: the platform makes it (simulated groups only)")],
        initial="dealerless", required=False, label="Who makes the Paillier key",
        help_text="In a key ceremony no one, the platform included, learns the factors of n; "
        "a dealer could decrypt every update, so only a simulated group may use one.",
    )  # fmt: skip
    deposit = forms.IntegerField(
        min_value=1, max_value=INT64_MAX // 16, initial=100, label="Deposit d (DeepCoin)",
        help_text="Staked to join, and again with each message until its proof verifies.",
    )  # fmt: skip
    partition = forms.ChoiceField(
        choices=[("iid", "IID"), ("dirichlet", "Dirichlet (non-IID)")],
        help_text="How the demo's simulated parties split the data (real parties bring theirs).",
    )
    local_iterations = forms.IntegerField(
        min_value=1, max_value=10_000, initial=20,
        help_text="SGD steps each party takes on its own data per round.",
    )  # fmt: skip
    l2_clip = forms.FloatField(
        required=False, label="L2 bound on each update (optional)",
        min_value=L2_CLIP_MIN, max_value=L2_CLIP_MAX,
        help_text="Agents clip ||dW||_2 to it and every update proves its norm within it "
        "(besides the per-coordinate bound |dW| <= 8). Blank: no L2 bound.",
    )  # fmt: skip
    strategy = forms.ChoiceField(
        choices=[
            ("fedavg", "FedAvg (the paper)"),
            ("fedavgm", "FedAvgM (server momentum)"),
            ("fedadam", "FedAdam"),
            ("fedyogi", "FedYogi"),
        ],
        initial=DEFAULT_STRATEGY.name,
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
    training_seconds = forms.IntegerField(
        min_value=1, max_value=86_400, required=False,
        label="T1 window: train + send the gradient (s)",
        help_text="Blank: derived from the measured cost.",
    )  # fmt: skip
    share_seconds = forms.IntegerField(
        min_value=1, max_value=86_400, required=False,
        label="T5 window: decryption shares (s)",
        help_text="Blank: derived from the measured cost (the longest phase).",
    )  # fmt: skip
    phase_seconds = forms.IntegerField(
        min_value=1, max_value=86_400, required=False,
        label="Every other phase's window (s)",
        help_text="Verification, upload, aggregation, download, return. Blank: derived.",
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from django.conf import settings

        self.fields["key_bits"].initial = int(settings.DEEPCHAIN_KEY_BITS)

    def clean(self) -> dict:
        data = super().clean()
        n, t = data.get("n_parties"), data.get("threshold")
        if n is not None and t is not None and t > n:
            raise forms.ValidationError("The threshold t cannot exceed the number of parties N.")
        m = data.get("min_contributors")
        if n is not None and m is not None and m > n:
            raise forms.ValidationError("The minimum contributors cannot exceed N.")
        l2 = data.get("l2_clip")
        if l2 is not None and (why := l2_bound_error(data.get("model_name"), l2)) is not None:
            self.add_error("l2_clip", why)
        if data.get("strategy"):
            values = {k: data.get(k) for k in ("server_lr", "beta1", "beta2", "tau")}
            try:
                data["strategy_obj"] = Strategy.from_options(
                    data["strategy"], mu=data.get("prox_mu"), **values
                )
            except StrategyError as exc:
                raise forms.ValidationError(f"Strategy: {exc}") from None
        return data

    def windows_s(self, derived: dict[str, int] | None = None) -> dict[str, int]:
        """Seconds per phase (clock phase names): the given windows, else ``derived``."""
        d = derived or {}
        other = self.cleaned_data.get("phase_seconds") or max(30, d.get("verification", 30))
        out = {name: int(other) for _, name in PHASE_LABELS}
        out["gradient_submission"] = int(
            self.cleaned_data.get("training_seconds") or d.get("gradient_submission", other)
        )
        out["decryption_share"] = int(
            self.cleaned_data.get("share_seconds") or d.get("decryption_share", other)
        )
        return out

    def needs_derived(self) -> bool:
        c = self.cleaned_data
        return not (c.get("training_seconds") and c.get("share_seconds") and c.get("phase_seconds"))

    def deadlines(self, derived: dict[str, int] | None = None) -> dict[str, int]:
        """Per-phase durations in ms, keyed by the clock's phase names."""
        return {k: v * 1000 for k, v in self.windows_s(derived).items()}


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

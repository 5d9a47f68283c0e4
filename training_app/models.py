"""Cooperative groups, memberships, rounds and what parties submit in each round.

Only public protocol data is stored: ciphertexts and proofs live in the content-addressed blob
store (their SHA-256 here and on chain); key shares only ever appear sealed to their party;
plaintext updates never reach the database (only the decrypted *aggregate*, which is public).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CooperativeGroup(models.Model):
    """A cooperative group co (paper 4.2.4): task, model, N, t, rounds, deadlines, deposit."""

    class Status(models.TextChoices):
        RECRUITING = "recruiting"
        KEYGEN = "keygen"
        RUNNING = "running"
        FINISHED = "finished"  # every round produced a decrypted aggregate
        ABORTED = "aborted"  # the initiator stopped it (status_reason says why)
        FAILED = "failed"  # a round or the key ceremony failed (status_reason says why)

    name = models.CharField(max_length=120)
    initiator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="initiated_groups"
    )
    address = models.CharField(max_length=80, unique=True)  # the group's on-chain address
    task = models.CharField(max_length=200, default="MNIST digit classification")
    model_name = models.CharField(max_length=40, default="mlp")
    n_parties = models.PositiveIntegerField()  # N
    threshold = models.PositiveIntegerField()  # t
    #: no round with fewer accepted updates is decrypted (>= 3: two would reveal each other)
    min_contributors = models.PositiveIntegerField(default=3)
    #: the platform runs every party of this group (the demo) and so holds their identities;
    #: recorded in GROUP_CREATE. A real group (False) has no party identity on the platform.
    simulated = models.BooleanField(default=False)
    rounds = models.PositiveIntegerField(default=3)
    local_iterations = models.PositiveIntegerField(default=50)
    learning_rate = models.FloatField(default=0.1)
    batch_size = models.PositiveIntegerField(default=64)
    partition = models.CharField(max_length=20, default="iid")  # "iid" | "dirichlet"
    dirichlet_alpha = models.FloatField(default=0.5)
    deposit = models.BigIntegerField()  # d, staked per phase (gradient, decryption share)
    deadlines = models.JSONField(default=dict)  # Deadlines.to_json(): T_t1..T_t9 durations
    key_bits = models.PositiveIntegerField(default=2048)
    #: how PK_model is made: "dealerless" (the parties' ceremony, KeyCeremony) or "dealer"
    #: (the platform generates and seals the shares; tests and benchmarks only)
    key_origin = models.CharField(max_length=12, default="dealerless")
    #: each key-ceremony message round's deadline in ms (0: settings.DEEPCHAIN_KEY_ROUND_MS)
    key_round_ms = models.PositiveIntegerField(default=0)
    public_key = models.JSONField(null=True, blank=True)  # PK_model, public
    packing = models.JSONField(null=True, blank=True)  # PackingScheme.to_json()
    initial_params = models.CharField(max_length=64, blank=True)  # blob hash of W_0
    current_round = models.IntegerField(default=0)
    seed = models.IntegerField(default=0)  # W_0 init, data partition and batch-order seeds
    data_limit = models.PositiveIntegerField(default=0)  # demo/tests: MNIST subset size (0: all)
    update_clip = models.FloatField(default=8.0)  # |dW| bound before quantization
    l2_clip = models.FloatField(null=True, blank=True, default=None)  # ||dW||_2 bound, optional
    # learning.strategies.Strategy.to_json(): FedProx mu + server optimizer; {} = FedAvg
    strategy = models.JSONField(default=dict, blank=True)
    api_url = models.CharField(max_length=200, blank=True)  # where simulated agents call the API
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECRUITING, db_index=True
    )
    status_reason = models.TextField(blank=True)
    #: read-only views (dashboard, group page) open to everyone, signed in or not (the demo's)
    public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)  # finished, aborted or failed

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A party in a group: applied, approved (party index i), or dropped."""

    class Status(models.TextChoices):
        APPLIED = "applied"
        ACTIVE = "active"
        REJECTED = "rejected"
        DROPPED = "dropped"

    group = models.ForeignKey(CooperativeGroup, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    account = models.ForeignKey("ledger_app.Account", on_delete=models.PROTECT)
    party_index = models.PositiveIntegerField(null=True, blank=True)  # i in 1..N
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.APPLIED)
    data_size = models.PositiveIntegerField(default=0)
    sealed_key_share = models.TextField(blank=True)  # commit_SK_model: sealed to the party
    simulated = models.BooleanField(default=False)  # a demo party run by Celery (queue party)
    behaviour = models.CharField(max_length=20, default="honest")  # demo: honest|late|cheat|silent
    stake_remaining = models.BigIntegerField(default=0)  # collateral d still held in escrow
    #: the party agent's last signed heartbeat: its own timestamp (replay guard) and when the
    #: platform received it (online = received within settings.DEEPCHAIN_AGENT_ONLINE_S)
    agent_heartbeat_ms = models.BigIntegerField(default=0)
    agent_seen_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="one_membership_per_user"),
            models.UniqueConstraint(fields=["group", "party_index"], name="unique_party_index"),
        ]


class Round(models.Model):
    """Round r of a group: its phase and deadlines (RoundSchedule), the aggregate, the result."""

    group = models.ForeignKey(CooperativeGroup, on_delete=models.CASCADE, related_name="round_set")
    number = models.PositiveIntegerField()
    phase = models.CharField(max_length=32, default="gradient_submission")
    schedule = models.JSONField(default=dict)  # RoundSchedule.to_json()
    closed_phases = models.JSONField(default=list)  # phases closed exactly once
    aggregate_blob = models.CharField(max_length=64, blank=True)  # C(sum dW), ciphertexts
    result_blob = models.CharField(max_length=64, blank=True)  # decrypted aggregate (public)
    params_blob = models.CharField(max_length=64, blank=True)  # W_r after the update
    accuracy = models.FloatField(null=True, blank=True)  # collaborative model, held-out test
    loss = models.FloatField(null=True, blank=True)
    phase_times = models.JSONField(default=dict)  # phase -> seconds
    n_accepted = models.PositiveIntegerField(default=0)  # updates in the aggregate
    processing = models.JSONField(default=dict)  # Processing contract: proposer, votes, fees
    settlements = models.JSONField(default=dict)  # phase -> Settlement.to_dict()
    status_reason = models.TextField(blank=True)  # why a round failed (no quorum, ...)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "number"], name="one_round_number")]
        ordering = ["group", "number"]


class Submission(models.Model):
    """A gradient (C(dW) + Proof_PK), a decryption share (+ Proof_CD) or a refusal to decrypt
    (the party could not verify the aggregate; ``reason`` says why) from one party."""

    class Kind(models.TextChoices):
        GRADIENT = "gradient"
        DECRYPTION_SHARE = "decryption_share"
        DECRYPTION_REFUSAL = "decryption_refusal"  # a signed refusal to decrypt, with reason

    class Status(models.TextChoices):
        ACCEPTED = "accepted"
        REJECTED = "rejected"  # proof failed
        LATE = "late"  # after the deadline
        PENDING = "pending"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="submissions")
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    blob = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    transaction = models.ForeignKey(
        "ledger_app.Transaction", null=True, blank=True, on_delete=models.PROTECT
    )
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["round", "membership", "kind"], name="one_submission_per_phase"
            )
        ]


class SeenCiphertext(models.Model):
    """A ciphertext already submitted in a group (its digest, ``deepchain.crypto.duplicates``)
    and the GRADIENT transaction that first carried it: the duplicate-ciphertext rule."""

    group = models.ForeignKey(CooperativeGroup, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    tx_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "digest"], name="one_ciphertext_per_group")
        ]


class Metric(models.Model):
    """Validation accuracy/loss of one party (or the collaborative model) after a round."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="metrics")
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.CASCADE)
    accuracy = models.FloatField()
    loss = models.FloatField()
    seconds = models.JSONField(default=dict)  # phase -> seconds spent by this party
    bytes_sent = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class KeyCeremony(models.Model):
    """The parties' dealerless key ceremony of a group: the platform only relays sealed,
    signed envelopes (CeremonyMessage) round by round, under a deadline per message round."""

    class Status(models.TextChoices):
        RUNNING = "running"
        VERIFYING = "verifying"  # every party reported the same PK_model: public checks
        DONE = "done"
        FAILED = "failed"  # a party was blamed, or the result failed the public checks

    group = models.OneToOneField(CooperativeGroup, on_delete=models.CASCADE,
                                 related_name="ceremony")  # fmt: skip
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    round = models.PositiveIntegerField(default=0)  # the message round now open
    phase = models.CharField(max_length=24, default="sieve")  # as the senders report it
    deadline_ms = models.BigIntegerField()  # the open round closes then (trusted clock)
    round_ms = models.BigIntegerField()  # each message round's allowance
    #: SHA-256 chain over (round, sender, recipient, SHA-256(envelope)) of every relayed message
    transcript_hash = models.CharField(max_length=64, default="0" * 64)
    bytes_relayed = models.BigIntegerField(default=0)
    #: per party index: the PK_model fingerprint and public-transcript hash it ended with
    results = models.JSONField(default=dict, blank=True)
    transcript_blob = models.CharField(max_length=64, blank=True)  # the public transcript
    #: [{"party": i, "address", "phase", "round", "reason", "proven": bool}] (also on chain)
    blame = models.JSONField(default=list, blank=True)
    status_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)


class CeremonyMessage(models.Model):
    """One sealed envelope (ciphertext only; the blob store holds it by SHA-256)."""

    ceremony = models.ForeignKey(KeyCeremony, on_delete=models.CASCADE, related_name="messages")
    round = models.PositiveIntegerField()
    sender = models.PositiveIntegerField()
    recipient = models.PositiveIntegerField()
    blob = models.CharField(max_length=64)
    size = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ceremony", "round", "sender", "recipient"],
                                    name="one_envelope_per_pair_and_round"),
        ]  # fmt: skip
        indexes = [models.Index(fields=["ceremony", "round", "recipient"])]

"""The ledger's Django home: accounts (wallets), money entries, transactions, blocks, nodes.

Ledger rows are append-only: code never updates a confirmed Transaction or a Block, and the
admin offers no add/change/delete. The canonical bytes of each block and transaction are kept
in ``raw`` so auditors can re-verify exactly what was signed (editing any byte is detected).
Amounts are integers in DeepCoin's smallest unit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Account(models.Model):
    """A wallet: an on-chain address with a balance (the paper's pk_psu, or a contract account)."""

    class Kind(models.TextChoices):
        PARTY = "party"  # a participant (browser user or party agent)
        WORKER = "worker"  # a worker node keeping the ledger
        AUTHORITY = "authority"  # the contracts / clock identity allowed to move escrow money
        TREASURY = "treasury"  # genesis allocation; funds the faucet, pays worker fees
        FAUCET = "faucet"  # pays sign-up grants (its own limit), topped up by the treasury
        ESCROW = "escrow"  # "escrow:<group>": deposits held by a group's contracts
        POOL = "pool"  # "pool:<group>": penalties awaiting redistribution

    address = models.CharField(max_length=80, unique=True)  # Ed25519 pk hex or "escrow:<g>"
    box_pk = models.CharField(max_length=64, blank=True)  # X25519 pk hex (sealed key shares)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="account",
    )  # fmt: skip
    label = models.CharField(max_length=120, blank=True)
    balance = models.BigIntegerField(default=0)
    nonce = models.BigIntegerField(default=0)  # last nonce used by this sender on chain
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="balance_non_negative")
        ]

    def __str__(self) -> str:
        return self.label or self.address[:16]


class Transaction(models.Model):
    """A signed transaction; pending in the mempool until a final block includes it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"

    tx_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, db_index=True)
    sender = models.CharField(max_length=80, db_index=True)
    nonce = models.BigIntegerField()
    group_ref = models.CharField(max_length=80, blank=True, db_index=True)
    round = models.IntegerField(null=True, blank=True, db_index=True)
    phase = models.CharField(max_length=32, blank=True, db_index=True)
    payload = models.JSONField(default=dict)
    raw = models.TextField()  # canonical JSON of the signed transaction (Transaction.to_dict)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    reason = models.TextField(blank=True)  # why it was rejected (recorded for auditors)
    block = models.ForeignKey(
        "Block", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    index_in_block = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.tx_hash[:12]}"


class LedgerEntry(models.Model):
    """One change of one account's balance; every change has exactly one entry."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    delta = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]


class Block(models.Model):
    """A final block agreed by Blockwise-BA; ``raw`` holds the full canonical block."""

    height = models.BigIntegerField(unique=True)
    block_hash = models.CharField(max_length=64, unique=True)
    prev_hash = models.CharField(max_length=64)
    merkle_root = models.CharField(max_length=64)
    timestamp_ms = models.BigIntegerField()
    leader = models.CharField(max_length=80)
    consensus_round = models.IntegerField(default=0)
    tx_count = models.IntegerField(default=0)
    raw = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["height"]

    def __str__(self) -> str:
        return f"#{self.height} {self.block_hash[:12]}"


class WorkerNode(models.Model):
    """A worker node of the consensus committee; its private key lives only in its keystore."""

    class Behaviour(models.TextChoices):
        HONEST = "honest"
        SILENT = "silent"
        FORGE_SIGNATURE = "forge_signature"
        DOUBLE_SPEND = "double_spend"
        BAD_MERKLE = "bad_merkle"
        EQUIVOCATE = "equivocate"
        CRASHED = "crashed"

    name = models.CharField(max_length=64, unique=True)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="worker")
    behaviour = models.CharField(
        max_length=20, choices=Behaviour.choices, default=Behaviour.HONEST
    )  # fault injection for the demo and the fault tests
    stake = models.BigIntegerField(default=0)
    neighbours = models.ManyToManyField("self", blank=True, symmetrical=True)
    height = models.BigIntegerField(default=-1)  # highest block this node stored (gossip)

    def __str__(self) -> str:
        return self.name


class ConsensusEvent(models.Model):
    """What happened in Blockwise-BA: proposals, votes, replaced leaders, equivocation, stalls."""

    height = models.BigIntegerField(db_index=True)
    consensus_round = models.IntegerField(default=0)
    kind = models.CharField(max_length=40, db_index=True)
    node = models.ForeignKey(WorkerNode, null=True, blank=True, on_delete=models.PROTECT)
    detail = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]


class Asset(models.Model):
    """A party's asset statement (paper 4.2.3): keywords and pairing-based possession tags."""

    owner = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="assets")
    title = models.CharField(max_length=120)
    keywords = models.JSONField(default=list)
    n_blocks = models.IntegerField()
    statement = models.JSONField()  # public AssetStatement (pk_data, tags): no data
    transaction = models.ForeignKey(Transaction, null=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)


class ConsensusAttempt(models.Model):
    """One Blockwise-BA consensus round k at a height (paper 4.2.5): leader, committee, verdict.

    ``(height, consensus_round)`` is unique, so two beats or two Celery processes can never
    drive the same round twice; the status moves exactly once from ``open`` to a verdict.
    """

    class Status(models.TextChoices):
        OPEN = "open"
        FINAL = "final"
        SILENT = "silent"  # the leader proposed nothing before its timeout
        INVALID = "invalid"  # the committee refused the leader's block
        NO_QUORUM = "no_quorum"  # too few committee members answered
        STALE = "stale"  # the chain moved on (another attempt finalized this height)

    height = models.BigIntegerField(db_index=True)
    consensus_round = models.IntegerField()
    prev_hash = models.CharField(max_length=64)
    leader = models.ForeignKey(WorkerNode, on_delete=models.PROTECT, related_name="led_attempts")
    committee = models.JSONField(default=list)  # member addresses
    quorum = models.IntegerField()
    timeout_s = models.FloatField()
    deadline = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    reason = models.TextField(blank=True)
    block_hash = models.CharField(max_length=64, blank=True)
    proposal = models.TextField(blank=True)  # canonical JSON of the leader's proposed block
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["height", "consensus_round"]
        constraints = [
            models.UniqueConstraint(
                fields=["height", "consensus_round"], name="one_attempt_per_height_round"
            )
        ]

    def __str__(self) -> str:
        return f"h{self.height} k{self.consensus_round} {self.status}"


class ConsensusVote(models.Model):
    """A committee member's verdict on a proposal: a signed vote (``raw``) or a refusal."""

    attempt = models.ForeignKey(ConsensusAttempt, on_delete=models.PROTECT, related_name="votes")
    node = models.ForeignKey(WorkerNode, on_delete=models.PROTECT, related_name="votes")
    block_hash = models.CharField(max_length=64, db_index=True)
    accepted = models.BooleanField()
    raw = models.TextField(blank=True)  # canonical JSON of the signed Vote
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "node", "block_hash"], name="one_verdict_per_node_block"
            )
        ]


class RefusalTally(models.Model):
    """Refusals of one sender in one window beyond its on-chain budget: one row per (sender,
    window), counted, so a client cannot grow the chain (or this table) per request."""

    sender = models.CharField(max_length=80)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)  # every refusal in the window
    recorded = models.PositiveIntegerField(default=0)  # of which recorded on chain
    last_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender", "window_start"], name="one_tally_per_window")
        ]

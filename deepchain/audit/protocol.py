"""Protocol-level audit: re-verify every proof, aggregate, result and settlement of a ledger.

``audit.chain`` checks the chain's structure and money (hash links, Merkle roots,
signatures, quorum, leader eligibility, balances). This module plugs into it (the
``extra_checks`` hook) and re-checks the *protocol* (paper 4.2.4, Algorithms 2-4) from the
exported ledger and the blob store alone:

- Tran_co (GROUP_CREATE): PK_model is fetched from the blob whose hash is on chain
  (``pk_model_blob``, or ``pk_model`` = its fingerprint = the blob hash of its canonical JSON)
  and must match N, t and the packing; its ring-Pedersen parameters' Pi^prm must verify; the
  update length is |W_0| (``w0_blob``); a key with ``key_origin: "dealerless"`` must pass the
  ceremony's public checks (``dkg.verify.verify_public_key``) on the public transcript whose
  blob Tran_co names (``ceremony.transcript_blob``);
- GRADIENT: fsver1 is recomputed: the update blob parses under PK_model, has |W_0| values and
  its Proof_PK (batched, or one per ciphertext) verifies for the context the chain records
  (PK_model, group, round, phase, the sender's index and address), and the
  duplicate-ciphertext rule (``crypto.duplicates``, the one the platform applies at submission)
  holds over the group's whole history: a gradient with a ciphertext already submitted in the
  group must have been refused (VERIFY not ok);
- VERIFY: the recorded verdict equals the recomputed fsver1/fsver2 (a VERIFY that says ok for
  a bad proof, or rejected for a good one, is a finding);
- AGGREGATE: C(sum dW) = prod_j C(dW_j) over exactly the accepted gradients of the round
  (Algorithm 2), its ``inputs`` and ``n_accepted`` included;
- DECRYPTION_SHARE: fsver2: index = the party's, Proof_CD against that aggregate;
- DECRYPTION_REFUSAL: a party's signed refusal to decrypt (one per party and round, never with
  a share): the Decryption settlement neither penalises nor pays it;
- AGGREGATE of fewer than the group's ``min_contributors`` accepted updates is a finding;
- the T6 CLOCK (``return``) with ``result_blob``: S equals the combination of t valid shares,
  unpacked for the recorded number of accepted updates; with ``decode_failed`` (the blame
  record): the combination really does not unpack, and every accepted Proof_PK of the round
  is re-checked and listed in :attr:`ProtocolAuditor.decode_failures`;
- the model: W_r of every round is re-derived from W_0 (``w0_blob``), the verified results
  (S, n) in chain order and the strategy recorded in Tran_co (``strategy``: FedProx mu and the
  server optimizer, ``learning.strategies``; absent = FedAvg), the optimizer's state included;
  the T6 CLOCK's ``params_blob`` (the W_r the platform published) must be exactly that model
  (:attr:`ProtocolAuditor.models` keeps the blob hash of each derived W_r);
- PAYOUT/PENALTY of a round: exactly what ``TradingContract`` / ``DecryptionContract`` settle
  for the recorded accepted/rejected/late/absent facts, with the group stakes re-derived from
  the chain (extra pay by contribution weights when Tran_co records the data sizes; else only
  its recipients and total); STAKE_RETURN pays back exactly what is left of each stake;
- a group that ended early (a CLOCK ``ended``: aborted or failed) refunds (DEPOSIT_REFUND)
  exactly d to each party that deposited in a phase of that round which had not settled, once.

Each finding names the block height, the transaction hash, the check and the reason.
Proof checks are the expensive part: with ``processes > 1`` every Proof_PK and Proof_CD of the
ledger is verified up front in a process pool (``procpool``; the jobs are ``audit.proof_jobs``),
keyed by the blobs, so the in-order pass only looks results up. Costs per check are kept in
:attr:`ProtocolAuditor.costs`.

One piece (over 500 lines) on purpose: ``ProtocolAuditor`` is one in-order pass over the chain
whose handlers (submissions, aggregates, results, settlements) read and extend the same
per-group and per-round facts as each transaction is replayed; the checks are ordered by the
chain, not by topic, so cutting the class by check would pass that state between modules
(the proof checks, which need none of it, are ``audit.proof_jobs``).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gmpy2 import mpz

from deepchain.audit.chain import AuditContext, AuditReport, audit_ledger, report_from
from deepchain.audit.proof_jobs import load_pk, pool_proof_job, proof_job
from deepchain.blobs import BlobError, BlobStore, blob_hash
from deepchain.canonical import canonical_json
from deepchain.crypto.dkg.verify import transcript_from_json, verify_public_key
from deepchain.crypto.duplicates import Gradient, check_history, ciphertext_digest
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey
from deepchain.crypto.vector import (
    DecryptionShare,
    EncryptedUpdate,
    combine_vector,
)
from deepchain.crypto.zk.sigma import ring_pedersen_bases
from deepchain.incentives.clock import Deadlines, Phase
from deepchain.incentives.contracts import DecryptionContract, TradingContract
from deepchain.incentives.money import Reason, Transfer, account_kind
from deepchain.incentives.payoff import contribution_weights
from deepchain.learning.strategies import (
    ServerState,
    Strategy,
    StrategyError,
    apply_strategy,
    scale_bits_of,
)
from deepchain.ledger.blocks import Block
from deepchain.ledger.transactions import Transaction, TxKind, thaw
from deepchain.procpool import pool_context

__all__ = [
    "Finding",
    "ProtocolAuditor",
    "ProtocolReport",
    "audit_protocol",
    "audit_with_protocol",
    "protocol_check",
]

_GROUP_STEPS = frozenset(
    {TxKind.GRADIENT, TxKind.VERIFY, TxKind.AGGREGATE, TxKind.DECRYPTION_SHARE}
)
CHECKS = (
    "group", "proof_pk", "verify", "aggregate", "proof_cd", "result", "model", "settlement",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """A protocol violation at one transaction."""

    height: int
    tx: str
    check: str
    reason: str

    def __str__(self) -> str:
        return f"block {self.height}, tx {self.tx}: [{self.check}] {self.reason}"

    def to_dict(self) -> dict:
        return {"block": self.height, "tx": self.tx, "check": self.check, "reason": self.reason}


# -- per-group / per-round facts ----------------------------------------------------------------
@dataclass
class _Group:
    address: str
    pk: ThresholdPublicKey
    pk_hash: str
    packing: str  # canonical JSON of the packing scheme
    scheme: PackingScheme
    parties: list[str]
    deposit: int
    length: int | None
    data_sizes: dict[str, int] | None
    min_contributors: int | None = None
    rounds: dict[int, _Round] = field(default_factory=dict)
    gradients: list[_Sub] = field(default_factory=list)  # every gradient, for the copy rule
    stake_returned: set[str] = field(default_factory=set)
    ended: bool = False  # a CLOCK "ended" (finished, aborted, failed) was recorded
    strategy: Strategy = field(default_factory=Strategy)
    model: np.ndarray | None = None  # the re-derived W of the last round with a result
    optimizer: ServerState | None = None
    scale_bits: int = 0
    models: dict[int, str] = field(default_factory=dict)  # round -> blob hash of derived W_r
    model_broken: str = ""  # why the models cannot be derived any further

    def index(self, party: str) -> int:
        return self.parties.index(party) + 1

    def round(self, r: int) -> _Round:
        return self.rounds.setdefault(r, _Round())


@dataclass
class _Sub:
    tx: str
    party: str
    blob: str
    verdict: bool | None = None  # the recorded VERIFY
    ok: bool | None = None  # the recomputed fsver1 / fsver2 proof check
    why: str = ""  # why that check refuses it
    digests: tuple[str, ...] | None = None  # a gradient's ciphertext digests (parsed)
    duplicate_of: str | None = None  # the VERIFY refused it as a copy of this gradient tx
    verify_at: tuple[int, str] | None = None  # (height, tx) of its VERIFY


@dataclass
class _Settle:
    expected: list[tuple] = field(default_factory=list)  # remaining, ledger form
    extra_total: int = 0  # extra pay total when its split is unknown (no data sizes)
    honest: tuple[str, ...] = ()


@dataclass
class _Round:
    gradients: dict[str, _Sub] = field(default_factory=dict)  # party -> sub
    shares: dict[str, _Sub] = field(default_factory=dict)
    by_tx: dict[str, tuple[str, _Sub]] = field(default_factory=dict)  # tx -> (kind, sub)
    late: dict[str, set[str]] = field(default_factory=lambda: {"gradient": set(), "share": set()})
    refused: set[str] = field(default_factory=set)  # parties that refused to decrypt
    grad_cts: dict[str, list[int]] = field(default_factory=dict)  # gradient tx -> ciphertexts
    aggregate: list[int] | None = None
    aggregate_blob: str | None = None
    aggregate_len: int = 0
    n_accepted: int = 0
    settle: dict[Phase, _Settle] = field(default_factory=dict)
    settled: set[Phase] = field(default_factory=set)
    deposited: Counter = field(default_factory=Counter)  # (phase, party) -> deposits of d
    refunded: set[tuple[str, str]] = field(default_factory=set)  # (phase, party) refunded


def _ledger_form(tr: Transfer) -> tuple:
    """A contract Transfer as the platform writes it (its settlement's apply_transfers)."""
    if account_kind(tr.destination) == "pool":
        return ("penalty", tr.party, tr.amount, tr.reason)
    return ("payout", tr.destination, "pool" if account_kind(tr.source) == "pool" else "escrow",
            tr.amount, tr.reason)  # fmt: skip


def _observed(tx: Transaction) -> tuple:
    p = tx.payload
    if tx.kind == TxKind.PENALTY:
        return ("penalty", p.get("party"), p.get("amount"), p.get("reason"))
    return ("payout", p.get("to"), p.get("source"), p.get("amount"), p.get("reason"))


def _describe(item: tuple) -> str:
    if item[0] == "penalty":
        return f"penalty {item[2]} ({item[3]}) of {str(item[1])[:16]}"
    amount = "?" if item[3] is None else item[3]
    return f"payout {amount} ({item[4]}) from {item[2]} to {str(item[1])[:16]}"


def _timed(check: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A transaction handler whose wall time is charged to ``check`` in the auditor's costs."""

    def wrap(handler: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(handler)
        def timed(self: ProtocolAuditor, *args: Any) -> None:
            with self._timing(check):
                handler(self, *args)

        return timed

    return wrap


class ProtocolAuditor:
    """Stateful protocol checker; call it on each transaction in chain order.

    As an ``audit_ledger`` extra check (``__call__``) it returns the first finding of a
    transaction (the audit stops there); :meth:`check` returns all of them, and :meth:`finish`
    what is left open at the end of the chain (settlements that never completed).
    """

    def __init__(self, blobs: BlobStore, processes: int = 1) -> None:
        self.blobs = blobs
        self.processes = max(1, int(processes))
        self.groups: dict[str, _Group] = {}
        self.stakes: dict[str, Counter[str]] = {}  # group -> party -> stake left
        self.findings: list[Finding] = []
        self.costs: dict[str, list[float]] = {c: [0, 0.0] for c in CHECKS}
        self.prefetch_seconds = 0.0
        self._results: dict[tuple, tuple[bool, str, float]] = {}
        self._cache: dict = {}
        self._prefetched = False
        self.unchecked = 0  # protocol transactions of groups without a Tran_co
        #: rounds whose aggregate did not decode: re-checked accepted proofs (blame records)
        self.decode_failures: list[dict[str, Any]] = []
        self._last_height = 0
        self._last_tx = ""

    @property
    def models(self) -> dict[str, dict[int, str]]:
        """{group address: {round: blob hash of the W_r re-derived from the chain}}."""
        return {a: dict(g.models) for a, g in self.groups.items()}

    # -- costs ------------------------------------------------------------------------------
    def _cost(self, name: str, seconds: float, count: int = 1) -> None:
        c = self.costs.setdefault(name, [0, 0.0])
        c[0] += count
        c[1] += seconds

    @contextmanager
    def _timing(self, name: str, count: int = 1) -> Iterator[None]:
        """Charge the wall time of the block to check ``name`` (``count`` checks)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._cost(name, time.perf_counter() - t0, count)

    def cost_summary(self) -> dict[str, dict[str, float]]:
        """{check: {"count", "seconds", "ms_each"}} (proof checks: CPU seconds in the pool)."""
        out = {
            k: {"count": int(n), "seconds": round(s, 4),
                "ms_each": round(1000 * s / n, 3) if n else 0.0}
            for k, (n, s) in self.costs.items()
        }  # fmt: skip
        out["unchecked"] = {"count": self.unchecked, "seconds": 0.0, "ms_each": 0.0}
        out["prefetch_wall"] = {"count": self.processes, "seconds": round(self.prefetch_seconds, 4),
                                "ms_each": 0.0}  # fmt: skip
        return out

    # -- the hook ---------------------------------------------------------------------------
    def __call__(self, ctx: AuditContext) -> str | None:
        if not self._prefetched:
            self._prefetched = True
            if self.processes > 1:
                self.prefetch(ctx.doc)
        found = self.check(ctx.block.height, ctx.tx)
        return f"[{found[0].check}] {found[0].reason}" if found else None

    def check(self, height: int, tx: Transaction) -> list[Finding]:
        """All findings of one transaction (also appended to :attr:`findings`)."""
        self._last_height, self._last_tx = height, tx.tx_hash
        out: list[Finding] = []

        def bad(check: str, reason: str) -> None:
            out.append(Finding(height, tx.tx_hash, check, reason))

        handler = {
            TxKind.GROUP_CREATE: self._group_create,
            TxKind.DEPOSIT: self._deposit,
            TxKind.GRADIENT: self._gradient,
            TxKind.VERIFY: self._verify,
            TxKind.AGGREGATE: self._aggregate,
            TxKind.DECRYPTION_SHARE: self._share,
            TxKind.DECRYPTION_REFUSAL: self._refusal,
            TxKind.REJECTION: self._rejection,
            TxKind.PAYOUT: self._money,
            TxKind.PENALTY: self._money,
            TxKind.CLOCK: self._clock,
        }.get(tx.kind)
        if tx.kind in _GROUP_STEPS and tx.group not in self.groups:
            # no Tran_co on chain: not a training group, nothing to re-verify (counted)
            self.unchecked += 1
        elif handler is not None and tx.group is not None:
            handler(tx, bad)
        self.findings.extend(out)
        return out

    def finish(self) -> list[Finding]:
        """Findings for what the chain left open (settlements missing transfers) and for the
        duplicate-ciphertext rule over each group's whole history (``check_history``)."""
        out: list[Finding] = []
        for g in self.groups.values():
            hist = [Gradient(s.tx, s.digests, s.duplicate_of) for s in g.gradients]
            for txh, why in check_history(hist).items():
                sub = next(s for s in g.gradients if s.tx == txh)
                height, at = sub.verify_at or (self._last_height, sub.tx)
                if sub.duplicate_of is not None or sub.verdict:
                    out.append(Finding(height, at, "verify", f"gradient of {sub.party[:16]}: "
                                                             f"{why}"))  # fmt: skip
            for r, rd in sorted(g.rounds.items()):
                for phase, st in rd.settle.items():
                    if phase in rd.settled:
                        continue
                    miss = self._missing(st)
                    if miss:
                        why = f"group {g.address} round {r} {phase.value}: {miss}"
                        out.append(Finding(self._last_height, self._last_tx, "settlement", why))
        self.findings.extend(out)
        return out

    # -- proofs -----------------------------------------------------------------------------
    def _run(self, job: tuple, check: str) -> tuple[bool, str]:
        res = self._results.get(job)
        if res is None:
            res = self._results[job] = proof_job(self.blobs, job, self._cache)
        self._cost(check, res[2])
        return res[0], res[1]

    def prefetch(self, doc: Mapping) -> None:
        """Verify every Proof_PK and Proof_CD of ``doc`` in a process pool (results cached by
        the blobs they read; the in-order pass re-derives which checks it needs)."""
        t0 = time.perf_counter()
        jobs: list[tuple] = []
        groups: dict[str, tuple] = {}
        aggs: dict[tuple[str, int], str] = {}
        txs: list[Transaction] = []
        try:
            for raw in doc.get("blocks") or []:
                txs.extend(Block.from_dict(raw).transactions)
        except (ValueError, TypeError, KeyError):
            return  # the structural audit reports it
        for tx in txs:
            p = tx.payload
            try:
                if tx.kind == TxKind.GROUP_CREATE:
                    pkh = p.get("pk_model_blob") or p.get("pk_model")
                    packing = canonical_json(thaw(p["packing"])).decode()
                    w0 = p.get("w0_blob")
                    length = len(self.blobs.get(w0)) // 4 if w0 else None
                    groups[tx.group] = (pkh, packing, length, list(p["parties"]))
                elif tx.kind == TxKind.AGGREGATE:
                    aggs[(tx.group, tx.round)] = p["aggregate_blob"]
            except (KeyError, TypeError, BlobError):
                continue
        for tx in txs:
            g = groups.get(tx.group)
            if g is None or tx.sender not in g[3]:
                continue
            if tx.round is None:
                continue
            where = (tx.group, tx.round, g[3].index(tx.sender) + 1, tx.sender)
            if tx.kind == TxKind.GRADIENT and isinstance(tx.payload.get("update_blob"), str):
                jobs.append(("pk", g[0], g[1], tx.payload["update_blob"], g[2], where))
            elif tx.kind == TxKind.DECRYPTION_SHARE and (tx.group, tx.round) in aggs:
                agg, blob = aggs[(tx.group, tx.round)], tx.payload.get("share_blob")
                if isinstance(blob, str):
                    jobs.append(("cd", g[0], agg, blob, where))
        jobs = list(dict.fromkeys(jobs))
        if len(jobs) > 1:
            ctx = pool_context()
            root = str(self.blobs.root)
            with ProcessPoolExecutor(max_workers=min(self.processes, len(jobs)),
                                     mp_context=ctx) as ex:  # fmt: skip
                for job, res in zip(jobs, ex.map(pool_proof_job, [root] * len(jobs), jobs),
                                    strict=True):  # fmt: skip
                    self._results[job] = res
        self.prefetch_seconds += time.perf_counter() - t0

    # -- handlers ---------------------------------------------------------------------------
    @_timed("group")
    def _group_create(self, tx: Transaction, bad) -> None:
        p = tx.payload
        if tx.group in self.groups:
            return bad("group", f"second Tran_co for group {tx.group}")
        pkh = p.get("pk_model_blob") or p.get("pk_model")
        if not isinstance(pkh, str):
            return bad("group", "Tran_co does not name PK_model (pk_model_blob)")
        try:
            pk = load_pk(self.blobs, pkh, self._cache)
        except BlobError as exc:
            return bad("group", f"PK_model is not available from the chain: {exc}")
        except (ValueError, TypeError) as exc:
            return bad("group", f"PK_model blob is not a threshold Paillier key: {exc}")
        if p.get("pk_model") is not None and p.get("pk_model") != pk.fingerprint():
            return bad("group", "pk_model fingerprint is not the key in pk_model_blob")
        if ring_pedersen_bases(pk) is None:
            return bad("group", "PK_model's ring-Pedersen parameters are missing or their "
                                "Pi^prm does not verify")  # fmt: skip
        parties = list(p.get("parties") or [])
        if len(set(parties)) != len(parties) or len(parties) != pk.N:
            return bad("group", f"PK_model has N = {pk.N} shares for {len(parties)} parties")
        if p.get("N", pk.N) != pk.N or p.get("t", pk.t) != pk.t:
            return bad("group", "N or t differ from PK_model's")
        if p.get("key_origin") == "dealerless":
            why = self._ceremony_check(pk, p.get("ceremony"))
            if why:
                return bad("group", f"dealerless PK_model: {why}")
        try:
            scheme = PackingScheme.from_json(thaw(p["packing"]))
            packing = canonical_json(thaw(p["packing"])).decode()
        except (KeyError, ValueError, TypeError) as exc:
            return bad("group", f"packing: {exc}")
        if scheme.n_bits != pk.n_bits:
            return bad("group", "the packing scheme is for another key size")
        strategy = Strategy()
        if p.get("strategy") is not None:
            try:
                strategy = Strategy.from_json(thaw(p["strategy"]))
            except StrategyError as exc:
                return bad("group", f"strategy: {exc}")
        length, w0, broken = None, None, "Tran_co has no W_0 (w0_blob)"
        if isinstance(p.get("w0_blob"), str):
            try:
                raw = self.blobs.get(p["w0_blob"])
            except BlobError as exc:
                return bad("group", f"W_0: {exc}")
            length = len(raw) // 4
            if len(raw) % 4:
                return bad("group", "W_0 is not a float32 vector")
            w0, broken = np.frombuffer(raw, dtype="<f4").astype(np.float32), ""
        try:
            s_bits = scale_bits_of(scheme.scale)
        except StrategyError as exc:
            s_bits, broken = 0, str(exc)
        sizes = p.get("data_sizes")
        data_sizes = None
        if sizes is not None:
            if not isinstance(sizes, list | tuple) or len(sizes) != len(parties):
                return bad("group", "data_sizes must list one size per party")
            data_sizes = {a: max(1, int(s)) for a, s in zip(parties, sizes, strict=True)}
        deposit = p.get("deposit")
        if not isinstance(deposit, int) or deposit <= 0:
            return bad("group", "Tran_co needs a positive deposit d")
        minc = p.get("min_contributors")
        if minc is not None and (not isinstance(minc, int) or not 3 <= minc <= len(parties)):
            return bad("group", f"min_contributors {minc!r} is not in 3..N")
        self.groups[tx.group] = _Group(tx.group, pk, pkh, packing, scheme, parties, deposit,
                                       length, data_sizes, minc, strategy=strategy, model=w0,
                                       scale_bits=s_bits, model_broken=broken)  # fmt: skip
        if w0 is not None and not broken:
            self.groups[tx.group].optimizer = strategy.initial_state(w0.size, s_bits)

    def _ceremony_check(self, pk: ThresholdPublicKey, ceremony: Any) -> str:
        """The dealerless key's public checks (``dkg.verify``) on the ceremony's public
        transcript named in Tran_co; the reason it fails, or ""."""
        try:
            tr = transcript_from_json(json.loads(self.blobs.get(thaw(ceremony)["transcript_blob"])))
        except (BlobError, KeyError, TypeError, ValueError) as exc:
            return f"its public transcript is not available: {exc}"
        if not isinstance(tr, dict) or not verify_public_key(pk, tr, pk.n_bits):
            return "it fails the ceremony's public checks (dkg.verify)"
        return ""

    def _deposit(self, tx: Transaction, bad) -> None:
        if tx.round is None:  # the group stake posted at join
            amount = tx.payload.get("amount")
            if isinstance(amount, int):
                self.stakes.setdefault(tx.group, Counter())[tx.sender] += amount
        elif (g := self.groups.get(tx.group)) is not None:  # a message's deposit d
            g.round(tx.round).deposited[(tx.phase, tx.sender)] += 1

    def _member(self, tx: Transaction, bad, check: str) -> tuple[_Group, _Round] | None:
        g = self.groups.get(tx.group)
        if g is None:
            bad(check, f"{tx.kind} for group {tx.group} which has no Tran_co on chain")
            return None
        if tx.sender not in g.parties:
            bad(check, f"{tx.kind} from {tx.sender[:16]}, not a party of the group")
            return None
        if tx.round is None:
            bad(check, f"{tx.kind} names no round")
            return None
        return g, g.round(tx.round)

    def _party_blob(
        self, tx: Transaction, bad, check: str, what: str, key: str
    ) -> tuple[_Group, _Round, str] | None:
        """(group, round, blob hash) of a party's message ``what`` naming its blob as ``key``;
        None (after a finding under ``check``) if it is not a party's or names no blob."""
        m = self._member(tx, bad, check)
        if m is None:
            return None
        blob = tx.payload.get(key)
        if not isinstance(blob, str):
            bad(check, f"{what} names no {key}")
            return None
        return m[0], m[1], blob

    def _gradient(self, tx: Transaction, bad) -> None:
        got = self._party_blob(tx, bad, "proof_pk", "GRADIENT", "update_blob")
        if got is None:
            return
        g, rd, blob = got
        if tx.sender in rd.gradients:
            return bad("proof_pk", "a second gradient from this party in the round")
        if tx.payload.get("pk") not in (None, g.pk.fingerprint()):
            bad("proof_pk", "the gradient was encrypted for another key")
        sub = rd.gradients[tx.sender] = _Sub(tx.tx_hash, tx.sender, blob)
        rd.by_tx[tx.tx_hash] = ("gradient", sub)
        where = (g.address, tx.round, g.index(tx.sender), tx.sender)
        sub.ok, sub.why = self._run(("pk", g.pk_hash, g.packing, blob, g.length, where), "proof_pk")
        g.gradients.append(sub)
        try:
            cts = EncryptedUpdate.from_bytes(self.blobs.get(blob), g.pk).ciphertexts
        except (BlobError, ValueError):
            return
        rd.grad_cts[tx.tx_hash] = cts
        sub.digests = tuple(ciphertext_digest(c) for c in cts)

    @_timed("verify")
    def _verify(self, tx: Transaction, bad) -> None:
        g = self.groups.get(tx.group)
        p = tx.payload
        if g is None or tx.round is None:
            return bad("verify", "VERIFY for a group/round with no Tran_co on chain")
        rd = g.round(tx.round)
        what, subject = p.get("what"), p.get("subject")
        hit = rd.by_tx.get(subject) if isinstance(subject, str) else None
        if hit is None:
            return bad("verify", f"VERIFY of {str(subject)[:16]}: no such submission this round")
        kind, sub = hit
        if what != ("proof_pk" if kind == "gradient" else "proof_cd"):
            return bad("verify", f"VERIFY says {what!r} for a {kind}")
        if p.get("party") != sub.party or p.get("blob") != sub.blob:
            return bad("verify", "VERIFY names another party or blob than its submission")
        if sub.verdict is not None:
            return bad("verify", "a second verdict for the same submission")
        ok = p.get("ok")
        if not isinstance(ok, bool):
            return bad("verify", "VERIFY has no boolean verdict")
        sub.verdict = ok
        sub.verify_at = (self._last_height, tx.tx_hash)
        dup_of = p.get("duplicate_of")
        if kind == "gradient" and dup_of is not None:
            # refused as a copy (checked over the whole history in finish); must say rejected
            if not isinstance(dup_of, str) or ok:
                return bad("verify", "a copy refusal must name a gradient tx and say rejected")
            sub.duplicate_of = dup_of
            return
        if ok and not sub.ok and "slot-bound" in sub.why:
            bad("verify", f"VERIFY says ok but the update of {sub.party[:16]}: {sub.why}")
        elif ok != sub.ok:
            proof = "Proof_PK" if kind == "gradient" else "Proof_CD"
            said = "ok" if ok else "rejected"
            truth = "verifies" if sub.ok else "does not verify"
            bad("verify", f"VERIFY says {said} but the {proof} of {sub.party[:16]} {truth}")

    @_timed("aggregate")
    def _aggregate(self, tx: Transaction, bad) -> None:
        g = self.groups.get(tx.group)
        if g is None or tx.round is None:
            return bad("aggregate", "AGGREGATE for a group/round with no Tran_co on chain")
        rd = g.round(tx.round)
        if rd.aggregate_blob is not None:
            return bad("aggregate", "a second aggregate for the round")
        p = tx.payload
        pending = [s.party[:16] for s in rd.gradients.values() if s.verdict is None]
        if pending:
            bad("aggregate", f"aggregated before the verdict on {pending}")
        accepted = [s for a in g.parties if (s := rd.gradients.get(a)) and s.verdict]
        want = sorted(s.tx for s in accepted)
        inputs = list(p.get("inputs") or [])
        if sorted(inputs) != want:
            extra = sorted(set(inputs) - set(want)) + [
                h for h, n in Counter(inputs).items() if n > 1
            ]
            missing = sorted(set(want) - set(inputs))
            return bad("aggregate", f"inputs are not exactly the accepted gradients "
                                    f"(missing {missing}, extra or repeated {extra})")  # fmt: skip
        if p.get("n_accepted") != len(accepted):
            return bad("aggregate", f"n_accepted {p.get('n_accepted')} but {len(accepted)} "
                                    "gradients were accepted")  # fmt: skip
        blob = p.get("aggregate_blob")
        try:
            agg = EncryptedUpdate.from_bytes(self.blobs.get(blob), g.pk)
        except (BlobError, ValueError, TypeError) as exc:
            return bad("aggregate", f"aggregate blob: {exc}")
        rd.aggregate_blob, rd.aggregate, rd.aggregate_len = blob, agg.ciphertexts, agg.length
        rd.n_accepted = len(accepted)
        if g.min_contributors is not None and len(accepted) < g.min_contributors:
            return bad("aggregate", f"an aggregate of {len(accepted)} updates, fewer than "
                                    f"min_contributors = {g.min_contributors}")  # fmt: skip
        vecs = [rd.grad_cts.get(s.tx) for s in accepted]
        if any(v is None for v in vecs) or not vecs:
            return bad("aggregate", "an accepted gradient's ciphertexts are unreadable")
        lengths_differ = any(len(v) != len(agg.ciphertexts) for v in vecs)
        if lengths_differ or (g.length is not None and agg.length != g.length):
            return bad("aggregate", "aggregate length differs from the accepted gradients'")
        n2 = mpz(g.pk.n2)
        for j, c in enumerate(agg.ciphertexts):
            acc = mpz(1)
            for v in vecs:
                acc = acc * v[j] % n2
            if acc != c:
                return bad("aggregate", f"ciphertext {j} is not the product of the "
                                        f"{len(vecs)} accepted gradients' ciphertexts")  # fmt: skip

    def _share(self, tx: Transaction, bad) -> None:
        got = self._party_blob(tx, bad, "proof_cd", "DECRYPTION_SHARE", "share_blob")
        if got is None:
            return
        g, rd, blob = got
        if rd.aggregate_blob is None:
            return bad("proof_cd", "a decryption share before the round's aggregate")
        if tx.sender in rd.shares:
            return bad("proof_cd", "a second decryption share from this party in the round")
        if tx.sender in rd.refused:
            return bad("proof_cd", "a decryption share from a party that refused to decrypt")
        sub = rd.shares[tx.sender] = _Sub(tx.tx_hash, tx.sender, blob)
        rd.by_tx[tx.tx_hash] = ("share", sub)
        where = (g.address, tx.round, g.index(tx.sender), tx.sender)
        job = ("cd", g.pk_hash, rd.aggregate_blob, blob, where)
        sub.ok, _why = self._run(job, "proof_cd")

    def _refusal(self, tx: Transaction, bad) -> None:
        m = self._member(tx, bad, "settlement")
        if m is None:
            return
        _g, rd = m
        if tx.sender in rd.refused or tx.sender in rd.shares:
            return bad("settlement", "a refusal from a party that already answered the round")
        reason = tx.payload.get("reason")
        if not isinstance(reason, str) or not reason:
            return bad("settlement", "a DECRYPTION_REFUSAL states no reason")
        rd.refused.add(tx.sender)

    def _rejection(self, tx: Transaction, bad) -> None:
        p = tx.payload
        g = self.groups.get(tx.group)
        if g is None or tx.round is None or not str(p.get("reason", "")).startswith("late"):
            return
        kind = {"gradient": "gradient", "decryption_share": "share"}.get(p.get("tx_kind"))
        if kind and p.get("tx_sender") in g.parties:
            g.round(tx.round).late[kind].add(p["tx_sender"])

    # -- results ----------------------------------------------------------------------------
    def _clock(self, tx: Transaction, bad) -> None:
        g = self.groups.get(tx.group)
        if g is not None and "ended" in tx.payload:
            g.ended = True
        if g is None or tx.round is None:
            return
        rd = g.round(tx.round)
        closed = tx.payload.get("closed")
        done = {Phase.T3.value: Phase.T1, Phase.T6.value: Phase.T5}.get(closed)
        if done is not None and (done == Phase.T1 or rd.aggregate is not None):
            with self._timing("settlement", count=0):
                st = self._settlement(g, tx.round, done)
                rd.settled.add(done)
                miss = self._missing(st)
            if miss:
                bad("settlement", f"{done.value} settlement incomplete: {miss}")
        if closed == Phase.T6.value and "result_blob" in tx.payload:
            with self._timing("result"):
                self._result(g, rd, tx, bad)
        elif closed == Phase.T6.value and "decode_failed" in tx.payload:
            with self._timing("result"):
                self._decode_failure(g, rd, tx, bad)

    def _decode_failure(self, g: _Group, rd: _Round, tx: Transaction, bad) -> None:
        """Blame record: the round's t valid shares must really not decode; then every accepted
        Proof_PK of the round is listed with its re-checked verdict (a failing one is already a
        VERIFY finding; if all verify, a proven update had an out-of-range slot, which
        Proof_PK does not exclude; see docs/ARCHITECTURE.md)."""
        if rd.aggregate is None:
            return bad("result", "a decode failure recorded without an aggregate")
        valid = [s for a in g.parties if (s := rd.shares.get(a)) and s.verdict and s.ok]
        if len(valid) < g.pk.t:
            return bad("result", f"decode failure recorded with {len(valid)} < t valid shares")
        try:
            shares = [DecryptionShare.from_bytes(self.blobs.get(s.blob), g.pk) for s in valid]
            plain = combine_vector(g.pk, shares)
        except (BlobError, ValueError, TypeError) as exc:
            return bad("result", f"cannot re-combine the shares: {exc}")
        try:
            g.scheme.unpack(plain, rd.aggregate_len, rd.n_accepted)
        except ValueError as exc:
            accepted = [s for a in g.parties if (s := rd.gradients.get(a)) and s.verdict]
            self.decode_failures.append({
                "group": g.address, "round": tx.round, "tx": tx.tx_hash, "reason": str(exc),
                "accepted": [{"party": s.party, "tx": s.tx, "proof_ok": bool(s.ok)}
                             for s in accepted],
            })  # fmt: skip
            return
        bad("result", "a decode failure is recorded, but t valid shares decode the aggregate")

    def _result(self, g: _Group, rd: _Round, tx: Transaction, bad) -> None:
        sums = self._result_sums(g, rd, tx, bad)
        if sums is None:
            g.model_broken = g.model_broken or f"round {tx.round}'s result did not verify"
            return
        with self._timing("model"):
            self._model(g, tx, sums, rd.n_accepted, bad)

    def _model(self, g: _Group, tx: Transaction, sums: np.ndarray, n: int, bad) -> None:
        """W_r from W_{r-1}, this round's verified S and n, and the recorded strategy."""
        if g.model_broken or g.model is None or g.optimizer is None:
            return
        if g.model.size != sums.size:
            g.model_broken = "the aggregate's length is not |W_0|"
            return bad("model", g.model_broken)
        try:
            w, g.optimizer = apply_strategy(
                g.strategy, g.model, sums, n, g.optimizer, g.scale_bits,
            )  # fmt: skip
        except (OverflowError, ValueError) as exc:
            g.model_broken = f"round {tx.round}: {exc}"
            return bad("model", f"cannot apply {g.strategy.label()}: {exc}")
        g.model = w
        h = blob_hash(np.asarray(w, dtype="<f4").tobytes())
        g.models[int(tx.round or 0)] = h
        claimed = tx.payload.get("params_blob")
        if claimed is not None and claimed != h:
            bad("model", f"the published W_{tx.round} is not the model re-derived from W_0 and "
                         f"the aggregates with {g.strategy.label()}")  # fmt: skip

    def _result_sums(
        self, g: _Group, rd: _Round, tx: Transaction, bad
    ) -> np.ndarray | None:  # fmt: skip
        """S of the round re-derived from t valid shares, if the published result is it."""
        if rd.aggregate is None:
            return bad("result", "a decrypted result without an aggregate")
        n = tx.payload.get("n_accepted", rd.n_accepted)
        if n != rd.n_accepted:
            return bad("result", f"n_accepted {n} but the aggregate has {rd.n_accepted}")
        valid = [s for a in g.parties if (s := rd.shares.get(a)) and s.verdict and s.ok]
        if len(valid) < g.pk.t:
            return bad("result", f"published with {len(valid)} < t = {g.pk.t} valid shares")
        try:
            shares = [DecryptionShare.from_bytes(self.blobs.get(s.blob), g.pk) for s in valid]
            sums = g.scheme.unpack(combine_vector(g.pk, shares), rd.aggregate_len, rd.n_accepted)
            got = np.frombuffer(self.blobs.get(tx.payload["result_blob"]), dtype="<i8")
        except (BlobError, ValueError, TypeError) as exc:
            return bad("result", f"cannot re-derive the result: {exc}")
        if got.shape != sums.shape or not np.array_equal(got, sums):
            diff = int(np.sum(got != sums)) if got.shape == sums.shape else "all"
            return bad("result", f"the published result is not the combination of t valid "
                                 f"shares ({diff} of {len(sums)} values differ)")  # fmt: skip
        return sums

    # -- settlements ------------------------------------------------------------------------
    def _settlement(self, g: _Group, r: int, phase: Phase) -> _Settle:
        rd = g.round(r)
        st = rd.settle.get(phase)
        if st is not None:
            return st
        sched = Deadlines.default().schedule(0, group=g.address, round_no=r)
        stakes = dict(self.stakes.get(g.address, Counter()))
        stakes = {a: stakes.get(a, 0) for a in g.parties}
        if phase == Phase.T1:
            c: Any = TradingContract(g.address, g.parties, g.deposit, sched, stakes=stakes)
            subs, late = rd.gradients, rd.late["gradient"]
        else:
            c = DecryptionContract(g.address, g.parties, g.deposit, sched, threshold=g.pk.t,
                                   stakes=stakes)  # fmt: skip
            subs, late = rd.shares, rd.late["share"]
        for a, s in subs.items():
            c.submissions[a] = (0, bool(s.verdict))
        for a in late:
            if a not in subs:
                c.late[a] = 0
        if phase == Phase.T5:
            for a in rd.refused - set(subs):
                c.refused[a] = 0  # an on-time refusal: neither penalised nor paid
        weights = None
        if g.data_sizes is not None:
            weights = contribution_weights({p: 1 for p in c.honest}, g.data_sizes)
        s = c.close(sched.deadline(phase) + 1, weights=weights)
        st = _Settle(honest=s.honest)
        for tr in s.transfers:
            item = _ledger_form(tr)
            if weights is None and tr.reason == Reason.EXTRA_PAY.value:
                st.extra_total += tr.amount
                continue
            st.expected.append(item)
        rd.settle[phase] = st
        return st

    @staticmethod
    def _refund_check(g: _Group, rd: _Round, phase: Phase, p: Mapping[str, Any], bad) -> None:
        """DEPOSIT_REFUND: only after the group ended, in a phase that never settled, exactly
        d, once, to a party that deposited in that phase."""
        to, key = p.get("to"), (phase.value, p.get("to"))
        if not g.ended:
            return bad("settlement", "a deposit refund while the group has not ended")
        if phase in rd.settled or phase in rd.settle:
            return bad("settlement", f"a deposit refund after the {phase.value} settlement")
        if rd.deposited.get(key, 0) < 1 or key in rd.refunded:
            return bad("settlement", f"a deposit refund to {str(to)[:16]}, which has no "
                                     f"unrefunded deposit in {phase.value}")  # fmt: skip
        if p.get("amount") != g.deposit or p.get("source") != "escrow":
            return bad("settlement", f"a deposit refund of {p.get('amount')}, not d = {g.deposit}")
        rd.refunded.add(key)

    @staticmethod
    def _missing(st: _Settle) -> str:
        parts = [_describe(x) for x in st.expected]
        if st.extra_total:
            parts.append(f"extra pay {st.extra_total} to the honest parties")
        return ", ".join(parts[:4]) + (f" (+{len(parts) - 4} more)" if len(parts) > 4 else "")

    @_timed("settlement")
    def _money(self, tx: Transaction, bad) -> None:
        p = tx.payload
        if tx.kind == TxKind.PENALTY and p.get("reason") in (
            Reason.PENALTY_LATE,
            Reason.PENALTY_ABSENT,
        ):  # forfeited from the group stake (after the settlement is derived from it)
            amount = p.get("amount")
            self._settlement_check(tx, bad)
            self.stakes.setdefault(tx.group, Counter())[p.get("party")] -= amount
            return
        self._settlement_check(tx, bad)

    def _settlement_check(self, tx: Transaction, bad) -> None:
        g = self.groups.get(tx.group)
        p = tx.payload
        reason = p.get("reason")
        if g is None:
            return
        if tx.round is None:
            if tx.kind == TxKind.PAYOUT and reason == Reason.STAKE_RETURN.value:
                to = p.get("to")
                left = self.stakes.get(g.address, Counter()).get(to, 0)
                if to in g.stake_returned:
                    return bad("settlement", "stake returned twice")
                g.stake_returned.add(to)
                if p.get("amount") != left or p.get("source") != "escrow":
                    return bad("settlement", f"stake return of {p.get('amount')} to {to[:16]}, "
                                             f"but {left} of its stake is left")  # fmt: skip
                self.stakes[g.address][to] = 0
            return
        try:
            phase = Phase(tx.phase)
        except ValueError:
            return bad("settlement", f"{tx.kind} in phase {tx.phase!r}, not a settling phase")
        if phase not in (Phase.T1, Phase.T5):
            return bad("settlement", f"{tx.kind} in phase {phase.value}, not a settling phase")
        rd = g.round(tx.round)
        if tx.kind == TxKind.PAYOUT and reason == Reason.DEPOSIT_REFUND.value:
            return self._refund_check(g, rd, phase, p, bad)
        if phase in rd.settled:
            return bad("settlement", f"{tx.kind} after the {phase.value} settlement closed")
        st = self._settlement(g, tx.round, phase)
        item = _observed(tx)
        if item in st.expected:
            st.expected.remove(item)
            return
        # late vs absent: the late refusal's REJECTION is recorded right after the refusal and
        # may land after the settlement; both forfeit the same min(d, stake), so either label
        swap = {Reason.PENALTY_LATE.value: Reason.PENALTY_ABSENT.value,
                Reason.PENALTY_ABSENT.value: Reason.PENALTY_LATE.value}  # fmt: skip
        if item[0] == "penalty" and item[3] in swap:
            alt = (*item[:3], swap[item[3]])
            if alt in st.expected:
                st.expected.remove(alt)
                return
        if (st.extra_total and item[0] == "payout" and item[4] == Reason.EXTRA_PAY.value
                and item[2] == "pool" and item[1] in st.honest
                and isinstance(item[3], int) and 0 < item[3] <= st.extra_total):  # fmt: skip
            st.extra_total -= item[3]
            return
        bad("settlement", f"{_describe(item)} is not in the contract's settlement "
                          f"(still due: {self._missing(st) or 'nothing'})")  # fmt: skip


# -- entry points ---------------------------------------------------------------------------
def protocol_check(blobs: BlobStore, processes: int = 1) -> ProtocolAuditor:
    """A fresh :class:`ProtocolAuditor`, usable as an ``audit_ledger`` extra check."""
    return ProtocolAuditor(blobs, processes)


def default_processes() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class ProtocolReport:
    findings: list[Finding]
    costs: dict[str, dict[str, float]]
    decode_failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def audit_protocol(
    doc: Mapping, blobs: BlobStore, processes: int = 1
) -> ProtocolReport:  # fmt: skip
    """Protocol checks only, over every transaction (all findings, not just the first).
    Does not re-verify the chain's structure: run :func:`audit_with_protocol` for that."""
    aud = ProtocolAuditor(blobs, processes)
    if processes > 1:
        aud._prefetched = True
        aud.prefetch(doc)
    blocks: Iterable[Any] = [doc["genesis"], *(doc.get("blocks") or [])]
    for raw in blocks:
        b = Block.from_dict(raw)
        for tx in b.transactions:
            aud.check(b.height, tx)
    aud.finish()
    return ProtocolReport(list(aud.findings), aud.cost_summary(), list(aud.decode_failures))


def audit_with_protocol(
    doc: dict,
    blobs: BlobStore,
    *,
    processes: int = 1,
    genesis_hash: str | None = None,
    final: bool = True,
) -> tuple[AuditReport, ProtocolAuditor]:
    """``audit_ledger`` with the protocol checks plugged in, then (``final``: nothing is
    pending any more) the end-of-chain checks. The report lists every problem; its counts
    carry the protocol costs."""
    aud = ProtocolAuditor(blobs, processes)
    report = audit_ledger(doc, blobs, [aud], genesis_hash=genesis_hash)
    if final:
        left = aud.finish()
        if left:
            found = [{**f.to_dict(), "row": None} for f in left]
            report = report_from(report.problems + found, balances=report.balances,
                                 counts=report.counts, tip_hash=report.tip_hash,
                                 genesis_hash=report.genesis_hash)  # fmt: skip
    report.counts["protocol"] = aud.cost_summary()
    return report, aud

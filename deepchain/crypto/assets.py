"""Asset statement (paper 4.2.3): a data set advertised with keywords and pairing-based tags.

Group: BLS12-381 (py_arkworks_bls12381), additive notation below with the paper's formulas in
multiplicative form alongside. G1 generator g1, G2 generator g2, scalar field Z_r.

Hashes:
- H1: {0,1}* -> Z_r. SHA-256 with domain tag, widened to 512 bits (two counter-indexed
  SHA-256 digests) and reduced mod r, so the bias is < 2^-256 (a single 256-bit digest mod r
  would be visibly biased: 2^256 is only about 2.3 r).
- H2: (name, j) -> G1. RFC 9380 hash-to-curve, suite BLS12381G1_XMD:SHA-256_SSWU_RO_ with this
  module's DST. ``name`` is a random 16-byte identifier of the statement (as in Shacham-Waters):
  it binds the tags to one statement, so tags cannot be replayed across statements.

Paper scheme (``mode="paper"``, the default), data = (data_1, ..., data_n):
    x = H1(data)                               (the data owner's secret: derived from the data)
    pk_data = g2^x                             (in G2)
    m_j = H1(data_j)
    sigma_j = (H2(j) * g1^{m_j})^x             (in G1, one tag per block)
Challenge Q = {(j, nu_j)}: distinct block indices j, nu_j uniform in [1, 2^128).
Proof:   sigma = prod_{(j,nu_j) in Q} sigma_j^{nu_j},   mu = sum nu_j m_j  (mod r).
Verify:  e(sigma, g2) == e(prod H2(j)^{nu_j} * g1^mu, pk_data).
Correctness: sigma = (prod H2(j)^{nu_j} * g1^{sum nu_j m_j})^x, so
e(sigma, g2) = e(prod H2(j)^{nu_j} g1^mu, g2)^x = e(prod H2(j)^{nu_j} g1^mu, g2^x).
Soundness (for a verifier who holds neither the data nor x): this is Shacham-Waters' publicly
verifiable proof of retrievability with one sector per block; under CDH in G1 (and H2 a random
oracle) a prover that answers random challenges must know each m_j it is asked about. Note what
the paper's scheme proves: possession of the digests m_j = H1(data_j) (32 bytes per block), not
of the blocks themselves; and anyone who knows the data knows x and can make tags.

Sector scheme (``mode="sectors"``, stronger, Shacham-Waters with s sectors): each block is cut
into sectors m_{j,1..s} (its byte length, then 31-byte chunks, each < r), u_k = H2'(name, k),
sigma_j = (H2(j) * prod_k u_k^{m_jk})^x, and the proof carries mu_k = sum_j nu_j m_jk for each
k; verify e(sigma, g2) == e(prod H2(j)^{nu_j} * prod_k u_k^{mu_k}, pk_data). This proves
possession of the blocks' bytes; the proof has s scalars.

Serialization: points as hex of their compressed encodings, scalars as canonical hex.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from deepchain.canonical import canonical_json, hex_to_int, int_to_hex, tagged_hash

__all__ = [
    "R",
    "AssetSecret",
    "AssetStatement",
    "PossessionProof",
    "H1",
    "H2",
    "challenge",
    "check_tags",
    "make_asset_statement",
    "prove_possession",
    "verify_possession",
]

#: Order r of the BLS12-381 groups (the scalar field Z_r).
R = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
DST_H1 = b"DEEPCHAIN-ASSET-V1-H1"
DST_H2 = b"DEEPCHAIN-ASSET-V1_BLS12381G1_XMD:SHA-256_SSWU_RO_"
NU_BITS = 128  # challenge coefficients nu_j in [1, 2^128)
SECTOR_BYTES = 31  # 31 bytes < r: a sector is a field element without reduction
MODES = ("paper", "sectors")


def H1(data: bytes, tag: bytes = b"") -> int:
    """H1: bytes -> Z_r, SHA-256(DST || tag || counter || data) for counters 0,1, mod r."""
    pre = len(DST_H1).to_bytes(1, "big") + DST_H1 + len(tag).to_bytes(1, "big") + tag
    wide = b"".join(hashlib.sha256(pre + bytes([c]) + data).digest() for c in (0, 1))
    return int.from_bytes(wide, "big") % R


def H2(name: bytes, j: int, label: bytes = b"block") -> G1Point:
    """H2: (statement name, index j) -> G1 by RFC 9380 hash-to-curve (SSWU, random oracle)."""
    msg = len(label).to_bytes(1, "big") + label + len(name).to_bytes(1, "big") + name
    return G1Point.hash_to_curve(msg + j.to_bytes(8, "big"), DST_H2)


def _s(x: int) -> Scalar:
    return Scalar(x % R)


def _g1_hex(p: G1Point) -> str:
    return p.to_compressed_bytes().hex()


def _g1_from_hex(s: str) -> G1Point:
    p = G1Point.from_compressed_bytes(bytes.fromhex(s))
    if not p.is_in_subgroup():
        raise ValueError("G1 point not in the prime-order subgroup")
    return p


def _g2_from_hex(s: str) -> G2Point:
    p = G2Point.from_compressed_bytes(bytes.fromhex(s))
    if not p.is_in_subgroup():
        raise ValueError("G2 point not in the prime-order subgroup")
    return p


def _data_digest_input(blocks: Sequence[bytes]) -> bytes:
    """Unambiguous encoding of the whole data set: count, then length-prefixed blocks."""
    parts = [len(blocks).to_bytes(8, "big")]
    for b in blocks:
        parts += [len(b).to_bytes(8, "big"), bytes(b)]
    return b"".join(parts)


def _sectors(block: bytes) -> list[int]:
    """m_{j,1..}: the block's byte length, then its 31-byte chunks (each < r)."""
    chunks = [block[i : i + SECTOR_BYTES] for i in range(0, len(block), SECTOR_BYTES)]
    return [len(block)] + [int.from_bytes(c, "big") for c in chunks]


def _messages(mode: str, block: bytes, n_sectors: int) -> list[int]:
    """The exponents m_j (paper: one, H1(data_j)) or m_{j,k} (sectors, zero padded)."""
    if mode == "paper":
        return [H1(block, b"block")]
    m = _sectors(block)
    if len(m) > n_sectors:
        raise ValueError("block longer than the statement's sector count allows")
    return m + [0] * (n_sectors - len(m))


def _u(mode: str, name: bytes, n_sectors: int) -> list[G1Point]:
    if mode == "paper":
        return [G1Point()]
    return [H2(name, k, b"sector") for k in range(n_sectors)]


@dataclass(frozen=True)
class AssetStatement:
    """Public statement: keywords, n blocks, pk_data = g2^x, tags sigma_j, and its parameters."""

    keywords: tuple[str, ...]
    n_blocks: int
    name: bytes  # random statement identifier, hashed into H2(j)
    pk_data: G2Point
    tags: tuple[G1Point, ...]
    mode: str = "paper"
    n_sectors: int = 1  # paper mode: 1 (the exponent is H1(data_j)); sectors: s

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if not (self.n_blocks == len(self.tags) and self.n_blocks > 0):
            raise ValueError("a statement has one tag per block and at least one block")
        if self.n_sectors < 1:
            raise ValueError("a statement has at least one sector per block")

    def u(self) -> list[G1Point]:
        """Generators u_k of the exponents: g1 in the paper's mode, H2'(name, k) otherwise."""
        return _u(self.mode, self.name, self.n_sectors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "keywords": list(self.keywords),
            "n_blocks": self.n_blocks,
            "name": self.name.hex(),
            "pk_data": self.pk_data.to_compressed_bytes().hex(),
            "tags": [_g1_hex(t) for t in self.tags],
            "mode": self.mode,
            "n_sectors": self.n_sectors,
        }

    def to_json(self) -> str:
        return canonical_json(self.to_dict()).decode()

    @property
    def statement_id(self) -> str:
        """Tagged SHA-256 of the canonical JSON: what a transaction records."""
        return tagged_hash("asset-statement", canonical_json(self.to_dict()))

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> AssetStatement:
        d = json.loads(data) if isinstance(data, str | bytes) else data
        return cls(
            keywords=tuple(str(k) for k in d["keywords"]),
            n_blocks=int(d["n_blocks"]),
            name=bytes.fromhex(d["name"]),
            pk_data=_g2_from_hex(d["pk_data"]),
            tags=tuple(_g1_from_hex(t) for t in d["tags"]),
            mode=str(d.get("mode", "paper")),
            n_sectors=int(d.get("n_sectors", 1)),
        )


@dataclass(frozen=True)
class AssetSecret:
    """The data owner's secret x = H1(data) (anyone holding the same data can recompute it)."""

    x: int


@dataclass(frozen=True)
class PossessionProof:
    """sigma = prod sigma_j^{nu_j} (G1) and mu (one scalar; s scalars in sector mode)."""

    sigma: G1Point
    mu: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sigma": _g1_hex(self.sigma), "mu": [int_to_hex(m) for m in self.mu]}

    def to_json(self) -> str:
        return canonical_json(self.to_dict()).decode()

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> PossessionProof:
        d = json.loads(data) if isinstance(data, str | bytes) else data
        return cls(_g1_from_hex(d["sigma"]), tuple(hex_to_int(m, name="mu") for m in d["mu"]))


def make_asset_statement(
    data_blocks: Sequence[bytes],
    keywords: Sequence[str],
    rng: Any = None,
    *,
    mode: str = "paper",
) -> tuple[AssetStatement, AssetSecret]:
    """Tag every block: x = H1(data), pk_data = g2^x, sigma_j = (H2(j) g1^{H1(data_j)})^x.

    ``rng`` (a random.Random-like object; default ``secrets.SystemRandom()``) draws the
    statement's 16-byte name. ``mode="sectors"`` makes Shacham-Waters sector tags instead.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if not data_blocks:
        raise ValueError("a data set has at least one block")
    rng = rng or secrets.SystemRandom()
    name = rng.getrandbits(128).to_bytes(16, "big")
    x = H1(_data_digest_input(data_blocks), b"data")
    if x == 0:
        raise ValueError("degenerate secret x = 0")
    n_sectors = 1 if mode == "paper" else max(len(_sectors(b)) for b in data_blocks)
    u = _u(mode, name, n_sectors)
    xs = _s(x)
    tags = []
    for j, block in enumerate(data_blocks):
        m = _messages(mode, block, n_sectors)
        base = H2(name, j) + G1Point.multiexp_unchecked(u, [_s(v) for v in m])
        tags.append(base * xs)  # sigma_j = (H2(j) * prod_k u_k^{m_jk})^x
    pk_data = G2Point() * xs  # pk_data = g2^x
    stmt = AssetStatement(
        tuple(keywords), len(data_blocks), name, pk_data, tuple(tags), mode, n_sectors
    )
    return stmt, AssetSecret(x)


def challenge(statement: AssetStatement, n_samples: int, rng: Any = None) -> list[tuple[int, int]]:
    """Q = {(j, nu_j)}: ``n_samples`` distinct block indices (at most n), nu_j in [1, 2^128).

    Sorted by j. ``rng`` as in :func:`make_asset_statement`.
    """
    if n_samples < 1:
        raise ValueError("challenge at least one block")
    rng = rng or secrets.SystemRandom()
    idx = sorted(rng.sample(range(statement.n_blocks), min(n_samples, statement.n_blocks)))
    return [(j, 1 + rng.randrange((1 << NU_BITS) - 1)) for j in idx]


def prove_possession(
    statement: AssetStatement, data_blocks: Sequence[bytes], chal: Sequence[tuple[int, int]]
) -> PossessionProof:
    """sigma = prod sigma_j^{nu_j} from the public tags, mu = sum nu_j m_j from the data."""
    _check_challenge(statement, chal)
    if len(data_blocks) != statement.n_blocks:
        raise ValueError("data set size differs from the statement")
    mu = [0] * statement.n_sectors
    for j, nu in chal:
        for k, m in enumerate(_messages(statement.mode, data_blocks[j], statement.n_sectors)):
            mu[k] = (mu[k] + nu * m) % R
    sigma = G1Point.multiexp_unchecked(
        [statement.tags[j] for j, _ in chal], [_s(nu) for _, nu in chal]
    )
    return PossessionProof(sigma, tuple(mu))


def _check_challenge(statement: AssetStatement, chal: Sequence[tuple[int, int]]) -> None:
    js = [j for j, _ in chal]
    if not chal or len(set(js)) != len(js):
        raise ValueError("challenge must name distinct blocks")
    if any(not 0 <= j < statement.n_blocks for j in js):
        raise ValueError("challenge index out of range")
    if any(not 0 < nu < R for _, nu in chal):
        raise ValueError("challenge coefficient out of range")


def verify_possession(
    statement: AssetStatement, chal: Sequence[tuple[int, int]], proof: PossessionProof
) -> bool:
    """e(sigma, g2) == e(prod H2(j)^{nu_j} * prod_k u_k^{mu_k}, pk_data) (needs no data, no x)."""
    try:
        _check_challenge(statement, chal)
    except ValueError:
        return False
    if len(proof.mu) != statement.n_sectors or any(not 0 <= m < R for m in proof.mu):
        return False
    if statement.pk_data == G2Point.identity() or not statement.pk_data.is_in_subgroup():
        return False  # pk = 1 would make every sigma = 1 verify
    if not proof.sigma.is_in_subgroup():
        return False
    points = [H2(statement.name, j) for j, _ in chal] + statement.u()
    scalars = [_s(nu) for _, nu in chal] + [_s(m) for m in proof.mu]
    lhs = G1Point.multiexp_unchecked(points, scalars)
    return GT.pairing_check([proof.sigma, -lhs], [G2Point(), statement.pk_data])


def check_tags(statement: AssetStatement, data_blocks: Sequence[bytes], rng: Any = None) -> bool:
    """Holder of the data checks every tag at once: a full challenge with random nu_j.

    Fails (except with probability <= 2^-128) if any tag is wrong.
    """
    if len(data_blocks) != statement.n_blocks:
        return False
    chal = challenge(statement, statement.n_blocks, rng)
    return verify_possession(statement, chal, prove_possession(statement, data_blocks, chal))

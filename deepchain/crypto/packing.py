"""The platform's packing: ONE object that the platform, the party agents and the benchmarks
derive every group's :class:`~deepchain.crypto.encoding.PackingScheme` from.

A group's scheme is ``PLATFORM_PACKING.scheme(n_bits, model)``: Q bits per quantized value
(chosen per model from the measurement of ``python -m deepchain.bench packing``, see
:data:`Q_BY_MODEL`), scale 2^(Q - RANGE_BITS) so that every |dW| <= 2^RANGE_BITS = 16 is
representable (the training presets clip each update coordinate to +-8, ``update_clip``), and
N_max = 16 parties (the platform's largest group). The platform stores the resulting scheme in
the group's public record and the agents read it from there, so a group keeps the packing it was
created with even if this table changes later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from deepchain.crypto.encoding import PackingScheme

#: |dW| < 2^RANGE_BITS is representable at every Q (scale = 2^(Q - RANGE_BITS)).
RANGE_BITS = 4

#: Q per model, from ``python -m deepchain.bench packing`` (fixed-point twin of the paper preset,
#: 10 rounds x 150 iterations, 4 IID parties, seed 0, 2,000 held-out MNIST images; the rule is
#: ``bench.packing.choose_q``: the smallest Q from which every larger Q measured stays within
#: 0.1 accuracy points of float FedAvg). Measured (docs/results/packing.json), twin - float:
#:   paper_cnn (float 0.9730): Q 8 -3.70, 10 -0.45, 12 -0.30, 14 +0.10, 16 +0.05, 20 +0.10
#:   mlp       (float 0.9525): Q 8 -3.35, 10 -0.65, 12 -0.05, 14 +0.10, 16 -0.10, 20 +0.05
#: One seed: one image is 0.05 points and the split's sampling error is about 0.4 points, so
#: this separates Q <= 10 (clearly worse) from Q >= 12/14, not finer. At 2048 bits Q = 14 packs
#: 92 slots (CNN: 2,744 ciphertexts per party instead of 3,555 at Q = 20), Q = 12 packs 102.
Q_BY_MODEL: Mapping[str, int] = MappingProxyType({"paper_cnn": 14, "mlp": 12})


@dataclass(frozen=True)
class PlatformPacking:
    """How the platform packs updates: Q per model, a fixed representable range, N_max."""

    q_by_model: Mapping[str, int] = field(default_factory=lambda: Q_BY_MODEL)
    default_Q: int = 20
    range_bits: int = RANGE_BITS
    N_max: int = 16

    def Q(self, model: str | None = None) -> int:
        """Bits per quantized value for ``model`` (the default for models not measured)."""
        return self.q_by_model.get(model or "", self.default_Q)

    def scheme(
        self,
        n_bits: int,
        model: str | None = None,
        update_clip: float | None = None,
        l2_clip: float | None = None,
    ) -> PackingScheme:
        """The PackingScheme of a group with an n_bits key training ``model``; with the group's
        ``update_clip`` it carries the public bound b = round(update_clip * scale), so every
        update must prove |q| <= b in every coordinate (the slot-bound proof), and with its
        ``l2_clip`` also the L2 bound c2 = round(l2_clip * scale): sum q^2 <= c2^2 proven too
        (ValueError for an l2_clip out of range or without update_clip)."""
        q = self.Q(model)
        if q < self.range_bits:
            raise ValueError(f"Q = {q} is below the range bits {self.range_bits} (scale < 1)")
        scheme = PackingScheme(
            n_bits=n_bits, Q=q, N_max=self.N_max, scale=2.0 ** (q - self.range_bits)
        )
        if update_clip is None:
            if l2_clip is not None:
                raise ValueError("an L2 clip goes with an update_clip (the L-infinity bound)")
            return scheme
        c2 = None if l2_clip is None else scheme.l2_bound_for_clip(l2_clip)
        return dataclasses.replace(scheme, bound=scheme.bound_for_clip(update_clip), l2_bound=c2)


#: The l2_clip values a group may choose (inclusive): over this range every platform model's
#: quantized L2 bound round(l2_clip * scale) is in [1, 2^64 - 1] (scales 2^8 to 2^16), so the
#: API's schema states exactly what it accepts.
L2_CLIP_MIN, L2_CLIP_MAX = 0.01, 1e12


def l2_bound_error(model: str | None, l2_clip: float) -> str | None:
    """Why ``l2_clip`` cannot be a group's L2 clip for ``model`` (None if it can): it must be
    a positive finite number whose quantized bound round(l2_clip * scale) is in [1, 2^64 - 1]."""
    if not L2_CLIP_MIN <= l2_clip <= L2_CLIP_MAX:  # NaN fails too
        return f"the L2 clip must be between {L2_CLIP_MIN:g} and {L2_CLIP_MAX:g}"
    try:
        PLATFORM_PACKING.scheme(2048, model, 8.0, float(l2_clip))
    except (TypeError, ValueError, OverflowError) as exc:
        return str(exc)
    return None


#: The one packing object of the platform, the agents and the benchmarks.
PLATFORM_PACKING = PlatformPacking()

"""How large one upload of a group may be: its update blob's size, known from its packing.

An honest update of a group is ``update_max_bytes(scheme, m)`` bytes at most (within a few
hundred bytes of framing), m the model's parameter count and the scheme the group's packing
(with its slot-bound proof for the bound b). So the platform refuses a group whose update could
never be uploaded (group creation, 409) and takes no larger gradient blob from a group than its
update can be (413); the request guard's body limit (``DEEPCHAIN_MAX_BLOB``) stays the ceiling
of every upload.
"""

from __future__ import annotations

from functools import cache

from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.packing import PLATFORM_PACKING
from deepchain.crypto.vector import update_max_bytes
from deepchain_web.api_errors import DomainError
from deepchain_web.limits import max_blob
from training_app.models import CooperativeGroup


@cache
def model_length(model_name: str) -> int:
    """m: the parameter count of the model (the length of every update)."""
    from deepchain.learning.models import build_model, param_count

    return param_count(build_model(model_name, seed=0))


def update_bytes(
    key_bits: int, model_name: str, update_clip: float, l2_clip: float | None = None
) -> int:
    """Most bytes of an honest update of a group created with these settings today."""
    scheme = PLATFORM_PACKING.scheme(key_bits, model_name, update_clip, l2_clip)
    return update_max_bytes(scheme, model_length(model_name))


def check_update_fits(
    key_bits: int, model_name: str, update_clip: float, l2_clip: float | None = None
) -> None:
    """Refuse (409) settings whose update, with its proofs, exceeds what an upload may carry."""
    size, limit = update_bytes(key_bits, model_name, update_clip, l2_clip), max_blob()
    if size > limit:
        raise DomainError(
            f"a {model_name} update at {key_bits}-bit keys is {size:,} bytes with its proofs "
            f"(Proof_PK and the slot-bound proof), over the {limit:,} bytes the platform accepts "
            f"in one upload: choose a smaller model, or the operator raises DEEPCHAIN_MAX_BLOB "
            f"to at least {size}",
            code="update_too_large",
        )


def gradient_blob_limit(group: CooperativeGroup) -> int:
    """Most bytes of a gradient blob of this group: its update's size under its packing record
    (the settings' packing before the key ceremony), never above DEEPCHAIN_MAX_BLOB."""
    if group.packing:
        scheme = PackingScheme.from_json(group.packing)
    else:
        scheme = PLATFORM_PACKING.scheme(
            group.key_bits, group.model_name, group.update_clip, group.l2_clip
        )
    return min(max_blob(), update_max_bytes(scheme, model_length(group.model_name)))

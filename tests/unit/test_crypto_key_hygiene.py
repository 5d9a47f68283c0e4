"""Key shares and key generation: a share box is bound to its recipient's index, parse errors
never quote a secret field, and security checks survive ``python -O``."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from deepchain.crypto.identity import Identity
from deepchain.crypto.keyshare import KeyShareError, open_key_share, seal_key_share
from deepchain.crypto.paillier import (
    KeyGenerationError,
    KeyShare,
    generate_threshold_keypair,
    safe_prime,
)
from deepchain.crypto.serialize import CryptoFormatError


@pytest.fixture(scope="module")
def keys():
    return generate_threshold_keypair(256, 3, 2, rng=random.Random(51))


@pytest.fixture(scope="module")
def people():
    return Identity.from_seed(b"D" * 32), Identity.from_seed(b"A" * 32)


def test_a_share_box_opens_for_its_recipients_index(keys, people):
    pk, shares = keys
    dealer, alice = people
    box = seal_key_share(shares[0], alice.public, dealer, pk)
    assert open_key_share(box, alice, dealer.address, pk, 1) == shares[0]


def test_a_share_box_opened_by_the_wrong_recipient_index_is_rejected(keys, people):
    """Alice is party 1 on chain. A dealer (or a relay) hands her the box of share 2, sealed
    and signed for her address: it would give two parties the same share."""
    pk, shares = keys
    dealer, alice = people
    box = seal_key_share(shares[1], alice.public, dealer, pk)
    with pytest.raises(KeyShareError, match="another party index"):
        open_key_share(box, alice, dealer.address, pk, 1)
    honest = seal_key_share(shares[0], alice.public, dealer, pk)
    with pytest.raises(KeyShareError, match="another party index"):
        open_key_share(honest, alice, dealer.address, pk, 2)


@pytest.mark.parametrize(
    "bad",
    [
        "DEADBEEF" + "0123456789abcdef" * 8,  # upper case
        "0x" + "0123456789abcdef" * 8,  # prefix
        "00" + "0123456789abcdef" * 8,  # leading zero
        "0123456789abcdef" * 8 + "g",  # stray character
    ],
)
def test_a_malformed_key_share_error_does_not_quote_the_secret(keys, bad):
    pk, _ = keys
    doc = {"type": "paillier_key_share", "version": 1, "i": 1, "s_i": bad}
    with pytest.raises(CryptoFormatError) as exc:
        KeyShare.from_json(doc, pk)
    msg = str(exc.value)
    assert all(bad[k : k + 6] not in msg for k in range(len(bad) - 5)), msg


def test_key_share_repr_hides_the_secret(keys):
    _, shares = keys
    assert format(shares[0].s_i, "x")[:8] not in repr(shares[0])


def test_key_generation_checks_raise_explicit_errors():
    with pytest.raises(KeyGenerationError):
        safe_prime(8)


def test_the_security_checks_survive_python_dash_o():
    code = (
        "from deepchain.crypto.paillier import KeyGenerationError, safe_prime\n"
        "try:\n    safe_prime(8)\nexcept KeyGenerationError:\n    print('raised')\n"
    )
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "raised", out.stderr

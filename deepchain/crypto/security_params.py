"""The security parameters the Paillier layer and every proof over it share (docs/PROTOCOL.md)."""

ALPHA_BITS = 448  # DJN randomness exponent: 2 x 224-bit security
K_BITS = 128  # Fiat-Shamir challenge bits
KAPPA = 40  # statistical hiding

"""Dealerless generation of the group's threshold Paillier key (no process learns p, q, phi, d).

Construction (semi-honest security with an honest majority, T = floor((N-1)/2) corrupt parties,
plus the consistency checks listed below):

1. Distributed sieving (Boneh-Franklin, CRYPTO '97, section 3, done slot-wise in CRT form as
   in Diogenes, Chen et al., IEEE S&P 2021): for every candidate and every sieve prime l
   (N < l, prod l < 2^(n/2 - 24)), parties 1..T+1 deal random units a_j mod l; their product
   is computed by BGW multiplications (degree-T Shamir over Z_l, degree reduction by parties
   1..2T+1) and turned into additive residues, which each party recombines by CRT into its
   integer share p_i = c_i + 4M' rho_i (p_1 = 3, p_i = 0 mod 4). So p = sum p_i is 3 mod 4 and
   has no prime factor in the sieve; thousands of candidates share each message round.
2. N = p q by BGW over Z_P1 (P1 > 2^(n+2)): degree-T shares of p and q, local product,
   opening of the degree-2T product.
3. Public checks on every opened N: bit length, N = 1 mod 4, not a square, no prime factor
   below 2^16 (one gcd with the primorial; this also covers the primes <= N not sieved).
   Before the screen of step 4 each party also drops, from the same public values, the
   candidates with a prime factor in [2^16, 2^20) (a remainder tree over the batch): a filter
   that saves exponentiations, not a public check.
4. Boneh-Franklin biprimality test: g^((N - p - q + 1)/4) = +-1 mod N for hash-derived g with
   Jacobi symbol (g/N) = 1, each party raising g to its share of phi/4 (party 1:
   (N + 1 - p_1 - q_1)/4, others -(p_i + q_i)/4); one base screens each candidate, 40 more
   confirm the chosen one (error <= 2^-40), and gcd(N, p + q - 1) = 1 is implied by step 5.
5. The decryption exponent as in Nishide-Sakurai (WISA 2010) / Veugen-Attema-Spini (ePrint
   2019/1136), with d = 0 mod phi, d = 1 mod N so the existing combine works unchanged:
   z1 = phi beta + N s is opened over Z_P2 (beta, s summed from the parties' random
   beta_i, s_i; N s statistically hides all of phi beta but phi beta mod N), gamma = z1 mod N,
   theta = gamma^-1 mod N; each party reduces w_i = beta_i theta mod N, x = sum w_i, and
   z2 = phi x + R is opened (R = sum R_i masks it), so d = phi x (< 2^(2n+10)) has integer
   additive shares d_1 = z2 - R_1, d_i = -R_i. gcd(gamma, N) = 1 rules out
   gcd(N, p + q - 1) > 1 (gamma = -(p + q - 1) beta mod N), Boneh-Franklin's last check.
6. t-out-of-N sharing of d over the integers: each party shares d_i with an integer
   polynomial (coefficients of |d_i| + KAPPA + |Delta| bits; Rabin CRYPTO '98, Damgard-Thorbek
   PKC 2007) and publishes Feldman commitments C_ik = v^(a_ik) mod N^2, v a square hashed from
   N; s_j = sum_i f_i(j), sum_S lambda_j s_j = Delta d (Delta = N!, Shoup 2000), so the
   existing partial_decrypt / combine / Proof_CD apply. v_j = v^(Delta s_j) is computed by
   anyone from the commitments: prod_k (prod_i C_ik)^(Delta j^k).
7. A public test decryption: every party decrypts a ciphertext hashed from N with its Proof_CD;
   every party verifies all proofs and that t shares combine to the hashed plaintext.

Consistency checks (who is named): malformed or mis-rounded messages (the sender); a share of
d_i off its committed polynomial (the dealer, by the recipient's Feldman check, batched with
random weights); a test decryption share whose Proof_CD fails (its sender); openings whose
redundant shares (N > 2T + 1) are not on one polynomial (detected, not attributable). A party
that sends nothing is named by the driver (PartyStalled). Not checked: that a party's
BGW inputs are well formed (e.g. its p_i in range, its a_j a unit); a malicious party can make
the ceremony fail or, in the sieve and multiplication steps, bias candidates: the security
claim is semi-honest, honest majority.

Proof_CD on a DKG key: the primes are not safe primes, so the squares of Z*_{N^2} can have
elements of small order and Shoup's soundness argument (which uses safe primes) does not
apply. Damgard et al., ASIACRYPT 2024 (DOI 10.1007/978-981-96-0891-1_5) show for the scheme of
Damgard et al. (IJIS 2010) with an integer-shared key and verification keys v^(Delta s_i) that
false decryption shares passing the proof may exist but are as hard to find as factoring N,
also for batched proofs (Aditya et al.); we rely on that result as an assumption about our
Proof_CD (same statement, v hashed from N, Fiat-Shamir challenge of 128 bits), not on a proof
of our own. Shares are larger than a dealer's (about 2|N| + 2 KAPPA + |Delta| + t log2 N bits
instead of < |N^2|), so Proof_CD's response r (|N^2| + |Delta| + 2K + KAPPA bits) hides
e Delta s_i with slack about 2^-(168 - 2 KAPPA - t log2 N) (2^-38 at N = 10, t = 6).

Public values: N, z1, z2, the commitments and the test decryption (each party's
``transcript``); the relay's transcript hash covers every message body.
"""

from deepchain.crypto.dkg.ceremony import (
    CeremonyResult,
    PhaseStats,
    ProcessParty,
    Relay,
    run_ceremony,
)
from deepchain.crypto.dkg.params import DKGParams
from deepchain.crypto.dkg.party import (
    CeremonyError,
    CeremonyFailed,
    DKGParty,
    InconsistentMessage,
    PartyStalled,
)

__all__ = [
    "CeremonyError",
    "CeremonyFailed",
    "CeremonyResult",
    "DKGParams",
    "DKGParty",
    "InconsistentMessage",
    "PartyStalled",
    "PhaseStats",
    "ProcessParty",
    "Relay",
    "run_ceremony",
]

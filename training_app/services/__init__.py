"""Collaborative training services (paper section 4.2.4): the only code that writes.

Groups: create -> apply/approve/join (stake d into ``escrow:<group>``) -> start (key ceremony on
queue crypto, Tran_co on chain) -> rounds. A round runs the clock's phases in ROUND_ORDER:

  T1 gradient_submission  parties post C(dW) + Proof_PK with a signed DEPOSIT of d
  T2 verification         fsver1 (task crypto_verify_gradient); close = Trading settlement
  T3 upload               the accepted gradient transactions are the round's inputs
  T7-T9 update/verify/append   Processing contract (task process_aggregate, queue consensus)
  T4 download             parties download C(sum dW)
  T5 decryption_share     parties post c_i + Proof_CD with a deposit (crypto_verify_share);
                          close = Decryption settlement
  T6 return               crypto_combine: any t valid shares -> S -> W_r, test accuracy

One module per phase of the paper, each importing only those below it:

  parties      agents' keys, apply/approve/join and the stake, a party's signed transactions
  settlement   Trading and Decryption settlements, a group's end (refunds, stake returns)
  clock        the phases' closes (:func:`advance_round`), the beat, overdue work re-enqueued
  groups       create, start, the dealer's key, PK_model and Tran_co on chain
  submissions  T1/T5 submissions with their deposits, fsver1/fsver2 and their VERIFY records
  processing   the Processing contract (T7-T9) and the combination (T6)

Reads live in ``training_app.selectors``. Money moves only through
``ledger_app.services.move_money`` / signed DEPOSIT transactions, each with its reason on
chain; the services enqueue their tasks (``training_app.tasks``) on commit.
"""

from training_app.services.clock import (
    DECODE_FAILED,
    advance_round,
    close_due_phases,
    now_ms,
    rekick_stale_work,
)
from training_app.services.groups import (
    DEALER,
    DEALERLESS,
    KEY_ORIGINS,
    MODEL_NAMES,
    PARTITIONS,
    check_key_origin,
    create_group,
    key_fits_group,
    record_group_key,
    run_key_ceremony,
    start_group,
    strategy_from_options,
)
from training_app.services.parties import (
    BEHAVIOURS,
    apply_to_group,
    approve_member,
    check_custody,
    join_group,
    register_agent,
)
from training_app.services.processing import combine_round, process_aggregate
from training_app.services.settlement import abort_group, end_group
from training_app.services.submissions import (
    record_metrics,
    record_verification,
    submit_decryption_refusal,
    submit_decryption_share,
    submit_gradient,
    verify_gradient,
    verify_share,
)

__all__ = [
    "BEHAVIOURS",
    "DEALER",
    "DEALERLESS",
    "DECODE_FAILED",
    "KEY_ORIGINS",
    "MODEL_NAMES",
    "PARTITIONS",
    "abort_group",
    "advance_round",
    "apply_to_group",
    "approve_member",
    "check_custody",
    "check_key_origin",
    "close_due_phases",
    "combine_round",
    "create_group",
    "end_group",
    "join_group",
    "key_fits_group",
    "now_ms",
    "process_aggregate",
    "record_group_key",
    "record_metrics",
    "record_verification",
    "register_agent",
    "rekick_stale_work",
    "run_key_ceremony",
    "start_group",
    "strategy_from_options",
    "submit_decryption_refusal",
    "submit_decryption_share",
    "submit_gradient",
    "verify_gradient",
    "verify_share",
]

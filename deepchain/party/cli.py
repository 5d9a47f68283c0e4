"""The party agent's command line: ``python -m deepchain.party --api URL --token T --data DIR
[--keystore DIR] [--group ID] [--genesis-hash H] [--record-updates]`` (see ``deepchain.party``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from pathlib import Path

import requests

from deepchain.party.agent import AgentConfig, PartyAgent
from deepchain.party.api import Api, ApiError

log = logging.getLogger("deepchain.party")

#: seconds between heartbeats (the platform counts an agent online for a few of these)
HEARTBEAT_SECONDS = 5.0


def run(agent: PartyAgent, poll_seconds: float = 1.0) -> None:
    """The CLI loop: step until the group finishes, with a heartbeat every
    HEARTBEAT_SECONDS from a thread of its own (also while training or decrypting)."""
    stop = threading.Event()
    beat = threading.Thread(target=beat_until, args=(agent, stop), daemon=True)
    beat.start()
    try:
        while True:
            try:
                did = agent.step()
            except ApiError as exc:
                log.warning("platform refused: %s", exc)
                did = "refused"
            if did == "done":
                return
            if did in ("idle", "waiting", "silent") or did.startswith("refused"):
                time.sleep(poll_seconds)
    finally:
        stop.set()


def beat_until(agent: PartyAgent, stop: threading.Event) -> None:
    """Send the agent's heartbeat every HEARTBEAT_SECONDS (own connection) until ``stop``."""
    api = Api(agent.cfg.api, agent.cfg.token, timeout=30.0)
    while not stop.is_set():
        try:
            agent.heartbeat(api)
        except (ApiError, requests.RequestException) as exc:
            log.warning("heartbeat not accepted: %s", exc)
        stop.wait(HEARTBEAT_SECONDS)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m deepchain.party",
        description=(
            "The party agent (paper section 4.2.4): one code path for a party's own host "
            "and the demo."
        ),
    )
    p.add_argument("--api", required=True, help="platform base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--token", required=True, help="API token of the party's user")
    p.add_argument("--data", required=True, help="directory with the party's own IDX files")
    p.add_argument("--keystore", default=None, help="private directory (default: DATA/.keystore)")
    p.add_argument("--group", type=int, default=None, help="group id (default: my only group)")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--show-address", action="store_true", help="print my identity and exit")
    p.add_argument(
        "--genesis-hash",
        default=None,
        help="pin the chain's genesis block (default: pinned on first use)",
    )
    p.add_argument(
        "--record-updates",
        action="store_true",
        help="keep each round's plaintext quantized update in KEYSTORE/updates/",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s party %(message)s")
    data = Path(args.data)
    keystore = Path(args.keystore) if args.keystore else data / ".keystore"
    cfg = AgentConfig(
        api=args.api,
        token=args.token,
        data_dir=data,
        keystore=keystore,
        record_updates=args.record_updates,
        genesis_hash=args.genesis_hash,
    )
    agent = PartyAgent(cfg)
    if args.show_address:
        print(
            json.dumps({"sign_pk": agent.identity.address, "box_pk": agent.identity.public.box_pk})
        )
        return 0
    agent.ensure_registered()
    if args.group is None:
        groups = agent.api.get("groups/mine/")
        if len(groups) != 1:
            print(f"choose a group with --group (member of {[x['id'] for x in groups]})")
            return 2
        cfg.group = int(groups[0]["id"])
    else:
        cfg.group = args.group
        agent.join(args.group)
    run(agent, args.poll)
    return 0

"""``python -m deepchain.party``: the party agent's command line (``deepchain.party.cli``)."""

from deepchain.party.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

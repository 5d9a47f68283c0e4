"""A party's record of its own rounds, kept in its keystore (private files only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepchain.private_files import write_private


@dataclass(frozen=True)
class LocalState:
    """What this party did in each round of ``group`` (messages, seconds, bytes sent), as a
    JSON file in ``keystore``, and where its recorded plaintext updates go."""

    keystore: Path
    group: int | None

    @property
    def path(self) -> Path:
        return self.keystore / f"state-group{self.group}.json"

    def load(self) -> dict[str, Any]:
        """The record: ``{"rounds": {str(r): {...}}}`` (empty before the first round)."""
        return json.loads(self.path.read_text()) if self.path.exists() else {"rounds": {}}

    def save(self, st: dict[str, Any]) -> None:
        write_private(self.path, json.dumps(st, sort_keys=True).encode())

    def record(self, r: int, *, seconds: dict[str, float] | None = None,
               bytes_sent: int = 0, **fields: Any) -> None:  # fmt: skip
        """Add ``fields``, ``seconds`` per phase and ``bytes_sent`` to round r's record."""
        local = self.load()
        rec = local["rounds"].setdefault(str(r), {})
        rec.update(fields)
        rec["seconds"] = {**rec.get("seconds", {}), **(seconds or {})}
        rec["bytes_sent"] = rec.get("bytes_sent", 0) + bytes_sent
        self.save(local)

    def update_path(self, round_no: int) -> Path:
        """Where the quantized update q_i of ``round_no`` is recorded (int64 .npy)."""
        return self.keystore / "updates" / f"group{self.group}-round{round_no}.npy"

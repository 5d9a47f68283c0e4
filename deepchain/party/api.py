"""The agent's REST client: token-authenticated JSON, counting the bytes it moves."""

from __future__ import annotations

import json
from typing import Any

import requests


class ApiError(RuntimeError):
    """The platform refused a request (HTTP 4xx/5xx), with its JSON ``message``."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code


class Api:
    """Tiny token-authenticated JSON client; counts the bytes it sends and receives."""

    def __init__(self, base: str, token: str, timeout: float = 120.0) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout
        self.bytes_sent = 0
        self.bytes_received = 0

    def _url(self, path: str) -> str:
        return f"{self.base}/api/{path.lstrip('/')}"

    def _check(self, resp: requests.Response) -> Any:
        self.bytes_received += len(resp.content)
        try:
            body = resp.json()
        except ValueError:
            body = {"message": resp.text[:200]}
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, str(body.get("message", body)), body.get("code", ""))
        return body

    def get(self, path: str) -> Any:
        return self._check(self.session.get(self._url(path), timeout=self.timeout))

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        data = json.dumps(payload).encode()
        self.bytes_sent += len(data)
        resp = self.session.post(
            self._url(path),
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
        )
        return self._check(resp)

"""Prometheus HTTP API (/api/v1/query, /api/v1/query_range): series as Decimals, never floats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import requests

from connectors.clients import SourceError, get_json

MAX_POINTS = 11_000  # Prometheus refuses a range query of more points per series


class Client:
    def __init__(self, endpoint: str, *, credentials: dict, timeout: float, verify: bool):
        self.base = endpoint.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify
        if credentials.get("token"):
            self.session.headers["Authorization"] = f"Bearer {credentials['token']}"
        elif credentials.get("username"):
            self.session.auth = (credentials["username"], credentials.get("password", ""))

    def _call(self, path: str, params: dict):
        data = get_json(self.session, self.base + path, timeout=self.timeout, params=params)
        if data.get("status") != "success" or not isinstance(data.get("data"), dict):
            reason = str(data.get("error") or "no data")[:200]
            raise SourceError(f"Prometheus refused the query: {reason}")
        return data["data"]

    def range(self, expr: str, start: dt.datetime, end: dt.datetime, step_s: int):
        """[(labels, [(time, value)])] of `expr` evaluated every `step_s` seconds."""
        points = (end - start).total_seconds() / step_s
        if points > MAX_POINTS:
            raise SourceError(f"{points:.0f} points asked in one query (at most {MAX_POINTS})")
        data = self._call(
            "/api/v1/query_range",
            {"query": expr, "start": start.timestamp(), "end": end.timestamp(), "step": step_s},
        )
        return _series(data, "matrix")

    def samples(self, selector: str, start: dt.datetime, end: dt.datetime):
        """[(labels, [(time, value)])]: the raw samples of `selector` in (start, end]."""
        seconds = int((end - start).total_seconds())
        query = {"query": f"{selector}[{seconds}s]", "time": end.timestamp()}
        data = self._call("/api/v1/query", query)
        return _series(data, "matrix")


def _series(data: dict, expected: str):
    if data.get("resultType") != expected or not isinstance(data.get("result"), list):
        raise SourceError(f"Prometheus answered a {data.get('resultType')}, not a {expected}")
    out = []
    for item in data["result"]:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise SourceError("Prometheus answered a series without values")
        labels = item.get("metric") or {}
        out.append((labels, [_point(pair) for pair in item["values"]]))
    return out


def _point(pair) -> tuple[dt.datetime, Decimal]:
    try:
        stamp, text = pair
        value = Decimal(text)  # Prometheus sends values as strings: read them exactly
        seconds = Decimal(str(stamp))  # Prometheus times have millisecond precision
        moment = dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC) + dt.timedelta(
            microseconds=int(seconds % 1 * 1_000_000)
        )
    except (TypeError, ValueError, InvalidOperation):
        raise SourceError(f"Prometheus answered an unreadable sample {str(pair)[:60]}") from None
    if not value.is_finite():
        raise SourceError(f"Prometheus answered {value} at {moment:%Y-%m-%d %H:%M:%S}")
    return moment, value

"""How Circulus talks to each kind of source. Each reader returns plain data (dicts, Decimals)
and raises `SourceError` with a sentence an operator can act on; nothing here touches the
database, and no message carries a credential."""

from urllib.parse import urlsplit

import requests


class SourceError(Exception):
    """The source did not answer, or answered something that cannot be read. Retried."""

    public = True  # its text is safe to show: circulus.jobs.public_error shows it as is


def endpoint_problem(kind: str, endpoint: str) -> str | None:
    """Why an endpoint cannot be used for `kind`, or None."""
    endpoint = endpoint.strip()
    if kind == "snmp":
        host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "161")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return "host:port of the SNMP agent, e.g. pdu-3.example:161"
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "a URL such as https://bmc-12.example or http://prometheus.example:9090"
    if parts.username or parts.password:
        return "no user or password in the URL: set them as the source's credentials"
    return None


def get_json(session: requests.Session, url: str, *, timeout: float, params=None) -> dict:
    """GET a JSON object; a silent, refusing or garbled answer becomes a SourceError."""
    shown = urlsplit(url)._replace(query="").geturl()
    try:
        response = session.get(url, params=params, timeout=(timeout, timeout))
    except requests.Timeout:
        raise SourceError(f"{shown} did not answer within {timeout:g} s") from None
    except requests.ConnectionError:
        raise SourceError(f"{shown} refused or dropped the connection") from None
    except requests.RequestException as exc:
        raise SourceError(f"{shown}: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise SourceError(f"{shown} refused the credentials (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise SourceError(f"{shown} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise SourceError(f"{shown} answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise SourceError(f"{shown} answered JSON that is not an object")
    return data

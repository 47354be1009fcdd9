"""Which address is the client: the connecting peer, unless the case trusts a proxy in front of it.

``ip`` is always the connecting peer ($remote_addr, %a/%h, c-ip). ``forwarded_for`` keeps the
X-Forwarded-For chain as written; any client can send that header, so nothing reads it as the
client's address by default. A case whose servers sit behind proxies it knows says so in
case.toml::

    [addresses]
    trusted_proxies = ["10.0.0.0/8", "203.0.113.7"]

and a pack's SQL may then ask ``client_ip(ip, forwarded_for)``: when the peer is a trusted proxy,
the hops are walked from the right (the one the trusted proxy appended first) and the first
address that is not itself a trusted proxy is the client; otherwise (no trusted proxies, an
untrusted peer, no chain) it is ``ip``. A hop that is not an IP address stops the walk at the
last trusted hop before it: a forged or garbled entry is never taken for a client. (The same
rule as nginx's realip module with ``real_ip_recursive on``.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from forensics.errors import ForensicsError, UsageError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(config: dict[str, Any], where: str = "case.toml") -> list[Network]:
    """The [addresses] trusted_proxies of a case.toml (addresses or CIDR networks)."""
    table = config.get("addresses", {})
    if not isinstance(table, dict):
        raise UsageError(f"{where}: [addresses] must be a table")
    values = table.get("trusted_proxies", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{where}: [addresses] trusted_proxies must be a list of addresses or networks (strings)")
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise UsageError(
                f"{where}: [addresses] trusted_proxies: {value!r} is not an IP address or network"
            ) from None
    return out


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    value = text.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 1.2.3.4:5678
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def _trusted(text: str | None, networks: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in n for n in networks)


def client_address(
    ip: str | None, forwarded_for: Sequence[str | None] | None, networks: Sequence[Network]
) -> str | None:
    """The client under the case's trusted proxies (see the module docstring)."""
    if not networks or not forwarded_for or not _trusted(ip, networks):
        return ip
    client = ip
    for hop in reversed(forwarded_for):
        if _address(hop) is None:
            return client  # garbage in the chain: stop at the last hop we could vouch for
        client = hop
        if not _trusted(hop, networks):
            return client
    return client


def register_client_ip(con: Any, config: Callable[[], dict[str, Any]]) -> None:
    """Define ``client_ip(ip, forwarded_for)`` on a DuckDB connection for this case's trusted proxies.

    A case.toml that cannot be read, or a bad trusted_proxies, fails only the queries that call
    client_ip (with the reason), not every connection to the case."""
    try:
        networks: list[Network] | ForensicsError = trusted_proxies(config())
    except ForensicsError as exc:
        networks = exc

    def client_ip(ip: str | None, forwarded_for: list[str | None] | None) -> str | None:
        if isinstance(networks, ForensicsError):
            raise networks
        return client_address(ip, forwarded_for, networks)

    con.create_function(
        "client_ip", client_ip, ["VARCHAR", "VARCHAR[]"], "VARCHAR", null_handling="special", side_effects=False
    )


def basis_note(config: dict[str, Any]) -> str:
    """One sentence for an exhibit's time/address basis: what `ip` means in this case."""
    networks = trusted_proxies(config)
    base = (
        "IP addresses are the connecting peer recorded by the server; X-Forwarded-For chains, which any "
        "client can write, are kept separately (forwarded_for)"
    )
    if not networks:
        return base + " and are not read as the client's address."
    listed = ", ".join(str(n) for n in networks)
    return base + f"; behind the proxies this case trusts ({listed}) the client is read from that chain."

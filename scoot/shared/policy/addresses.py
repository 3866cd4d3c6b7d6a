"""Internal addresses: loopback, private, link-local and metadata hosts, IP literals in every spelling."""

from __future__ import annotations

import ipaddress
import unicodedata
from urllib.parse import urlsplit

_INTERNAL_HOSTNAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_internal_address(ip: IPAddress | str) -> bool:
    """True for addresses an agent must not reach when internal HTTP is blocked.

    Loopback, private (RFC 1918, fc00::/7), link-local (including the cloud
    metadata address 169.254.169.254), unspecified, shared (100.64/10),
    reserved and multicast, and IPv6 forms that embed such an IPv4 address.
    A string that is not an address counts as internal (fail closed).
    """
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None and is_internal_address(embedded):
            return True
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_reserved
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a URL host denotes literally, or None for a hostname.

    Besides dotted quads and IPv6, accepts the forms the C resolver's
    inet_aton accepts and so would connect to: one to four parts, each
    decimal, hex (0x..) or octal (leading 0), e.g. 2130706433, 0x7f000001,
    0177.0.0.1, 127.1.
    """
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        pass
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _inet_aton_part(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = 0
    for value in leading:
        number = (number << 8) | value
    number = (number << (8 * (4 - len(leading)))) | last
    return ipaddress.IPv4Address(number)


def _inet_aton_part(part: str) -> int | None:
    if not part:
        return None
    try:
        if part.startswith("0x"):
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def internal_host_problem(host: str) -> str | None:
    """Why `host` (from a URL) is internal, without DNS; None when it looks public.

    Hostnames are not resolved here: the gate stays pure, and a check-time
    lookup proves nothing about connect time (DNS rebinding). The
    http_request tool re-checks the resolved address when it connects, and
    the kernel layer limits readonly runs' connections anyway.
    """
    # The resolver's IDNA step folds full-width digits and ideographic dots to ASCII.
    name = unicodedata.normalize("NFKC", host).replace("\u3002", ".").strip().lower().rstrip(".")
    if name in _INTERNAL_HOSTNAMES or name.endswith(".localhost"):
        return f"host {host!r} is internal"
    ip = parse_ip_literal(name)
    if ip is not None and is_internal_address(ip):
        return f"address {ip} ({host}) is internal (loopback, private, link-local or metadata)"
    return None


def url_problem(url: str, *, block_internal: bool) -> str | None:
    """Why the gate refuses `url`, or None: http(s) only, internal hosts when blocked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"malformed URL {url[:80]!r}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http and https URLs are allowed, got {parts.scheme or 'none'!r}"
    if not host:
        return f"URL {url[:80]!r} has no host"
    if block_internal:
        problem = internal_host_problem(host)
        if problem is not None:
            return f"{problem}; block_internal_http is on"
    return None

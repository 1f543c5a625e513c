"""Object names in storage URLs, written one way for the worker and the web app's client alike.

Standard library only: `vgen.client` imports it.
"""

from __future__ import annotations

import urllib.parse

# Kept as they are in a URL path: legal there, and Supabase Storage's signing (decodeURI) leaves
# their escapes undecoded, so escaping them would sign another name.
NAME_SAFE = "/!$&'()*+,;=:@"


def quote_name(name: str) -> str:
    """A bucket or object name as it goes into a storage URL: percent-encoded, '/' kept."""
    return urllib.parse.quote(name, safe=NAME_SAFE)


def encode_signed(signed: str) -> str:
    """A signed path as Supabase Storage answers it (raw: spaces and all; its JS client encodes it),
    encoded, with the token's query kept as given."""
    path, sep, query = signed.rpartition("?") if "?" in signed else (signed, "", "")
    return quote_name(urllib.parse.unquote(path)) + sep + query


def host_of(url: str) -> str:
    """host[:port] of a URL, without user info, path or query (for messages)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host

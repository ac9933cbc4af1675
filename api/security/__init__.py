"""Defences against hostile users, kept apart from the routes that use them.

Each module is self-contained and framework-free, so a route, a page or a
worker wires it in with a call and turns its exception into a problem document:

- :mod:`api.security.ratelimit`: throttles per account, client address and kit code,
  soft lock-out with ``retry_after`` (Redis or in-memory).
- :mod:`api.security.otp`: one-time codes for the kit-code log-in after failures.
- :mod:`api.security.passwords`: refuses short, common and context-derived passwords.
- :mod:`api.security.images`: checks template images before decoding and re-encodes them.
- :mod:`api.security.json_guard`: refuses over-deep or over-large JSON before parsing it.
- :mod:`api.security.names`: normalises and restricts user names and display names.
"""

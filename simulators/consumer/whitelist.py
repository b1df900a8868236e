"""The ANS whitelist of DRIMboxes, as the Consumer imports it: see :mod:`harness.whitelist`.

Verification moved to the harness, where the Source uses it too (the Consumer's client-certificate DN
against the list); these names stay importable from here.
"""

from harness.whitelist import Domain, Whitelist, WhitelistError, load_whitelist, verify_signature

__all__ = ["Domain", "Whitelist", "WhitelistError", "load_whitelist", "verify_signature"]

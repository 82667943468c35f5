"""The one place TLS trust is decided: the CA bundle the builds mount (corporate proxies and TLS
interception re-sign certificates) is the same one the runner's own requests check against, so the package
index, CRAN and the MNIST download all trust what pip inside the builds trusts."""

from __future__ import annotations

import os
import ssl
from typing import Optional

CA_BUNDLE_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
# In this order: the tool's own variable, then pip's, OpenSSL's and requests' (what a proxy's users already set).
CA_BUNDLE_VARIABLES = ("KERAS_MATRIX_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def find_ca_bundle(explicit: Optional[str] = None) -> Optional[str]:
    """The host's CA bundle to mount into builds and to check TLS against, or None (the system default)."""
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    for variable in CA_BUNDLE_VARIABLES:
        value = os.environ.get(variable)
        if value and os.path.isfile(value):
            return value
    for path in CA_BUNDLE_CANDIDATES:
        if os.path.isfile(path):
            return path
    return None


def tls_context(ca_bundle: Optional[str] = None) -> ssl.SSLContext:
    """A client TLS context that trusts ca_bundle, else the bundle find_ca_bundle finds, else the system's.
    An unreadable or invalid bundle raises OSError or ssl.SSLError for the caller to report."""
    cafile = ca_bundle or find_ca_bundle()
    return ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()

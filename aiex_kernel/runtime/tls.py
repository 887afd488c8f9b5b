"""TLS for aiex's Dask clusters: certificates made or given, and the ``distributed.Security`` built from them.

``aiex start cluster --tls`` makes a temporary self-signed certificate and key
(distributed's ``Security.temporary()``, which needs ``cryptography``) unless three
files are given, and keeps them in ``<data dir>/cluster-tls/`` (the key readable by
this user only). The shared cluster then speaks ``tls://`` with encryption required:
a client without the certificate is refused at the handshake. aiex processes on this
machine find the files through the shared cluster's record; for a remote scheduler,
the ``tls_ca_file``, ``tls_cert`` and ``tls_key`` settings (``AIEX_TLS_*``) name them.
"""

from __future__ import annotations

import os
from pathlib import Path

from .deployment import TLSFiles

__all__ = ["TLS_DIR", "make_certificates", "security_for"]

TLS_DIR = "cluster-tls"


def make_certificates(folder: Path) -> TLSFiles:
    """A temporary CA-signed-by-itself certificate and key, written to ``folder`` (key mode 0600)."""
    from distributed.security import Security

    temporary = Security.temporary()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    contents = {"ca": temporary.tls_ca_file, "cert": temporary.tls_client_cert, "key": temporary.tls_client_key}
    for name, path in paths.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if name == "key" else 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(contents[name])
    return TLSFiles(str(paths["ca"]), str(paths["cert"]), str(paths["key"]))


def security_for(files: TLSFiles):
    """One ``Security`` for the scheduler, the workers and the clients, encryption required."""
    from distributed.security import Security

    return Security(tls_ca_file=files.ca, tls_client_cert=files.cert, tls_client_key=files.key,
                    tls_scheduler_cert=files.cert, tls_scheduler_key=files.key,
                    tls_worker_cert=files.cert, tls_worker_key=files.key, require_encryption=True)

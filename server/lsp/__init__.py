"""kvcal's language server (``kvcal lsp``): pygls 2 on stdio.

Handlers are thin (:mod:`.handlers`): the config language lives in ``kvcal.grammar``,
LSP conversion in :mod:`.convert`, and the calibration engine (torch) is imported only
when ``kvcal.calibrate`` runs (:mod:`.worker`).
"""

from __future__ import annotations

import gc

from kvcal.server import __version__
from kvcal.server.lsp.handlers import register
from kvcal.server.lsp.protocol import KvcalProtocol
from kvcal.server.lsp.server import KvcalServer

__all__ = ["__version__", "create_server", "serve"]


def create_server() -> KvcalServer:
    return register(KvcalServer())


def serve() -> int:
    """Run the server on stdin/stdout until the client says exit; the process status:
    0 after shutdown and exit (or the end of input), 1 after an exit without shutdown."""
    server = create_server()
    # An analysis allocates hundreds of thousands of small objects: with the default
    # thresholds the collector's full passes over everything the server holds (modules,
    # schema, cached analyses) show up as latency spikes. Startup objects are never garbage.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    server.start_io()
    protocol = server.protocol
    return (protocol.exit_code or 0) if isinstance(protocol, KvcalProtocol) else 0

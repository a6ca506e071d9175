"""``python -m kvcal.server`` is the ``kvcal`` command line."""

from __future__ import annotations

import sys

from kvcal.server.cli import main

sys.exit(main())

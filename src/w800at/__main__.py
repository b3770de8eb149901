"""``python -m w800at``: the same as the ``w800at`` command."""

import sys

from .cli import main

sys.exit(main())

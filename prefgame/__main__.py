"""``python -m prefgame`` = the ``prefgame`` command."""

import sys

from .cli import main

sys.exit(main())

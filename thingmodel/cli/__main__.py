"""``python -m thingmodel.cli``: the ``thingmodel`` command."""

import sys

from . import main

sys.exit(main())

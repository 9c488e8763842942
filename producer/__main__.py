"""``python -m producer``: see `producer.command`."""

import sys

from producer.command import main

sys.exit(main())

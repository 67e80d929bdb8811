"""``python -m otel_supabase_exporter``: the command line."""

import sys

from .show.cli import main

sys.exit(main())

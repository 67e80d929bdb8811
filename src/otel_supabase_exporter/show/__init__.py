"""Show: what people look at — the command line (:mod:`.cli`), its tables (:mod:`.tables`) and the
live dashboard (:mod:`.dashboard`, with its page in ``static/``). Reads go through :mod:`..judge`."""

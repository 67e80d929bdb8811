"""Judge: every read of the tables that the CLI, the doctor and the dashboard make, and the calls
that run the SQL side's judging (maintenance, baselines, the auditor, acknowledgements).
:mod:`.summary` (performance summary), :mod:`.auditor` (baselines, observations, comparisons),
:mod:`.maintenance` (``maintain()``), :mod:`.health` (the doctor's checks), :mod:`.board` (the
dashboard's reads). The judging itself is SQL (``sql/repeatable``), so pg_cron can run it alone.
"""

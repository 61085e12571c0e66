"""Files built from the schedule: iCalendar with its VTIMEZONE, RSS and Atom feeds, the
status JSON and pages, and the atomic, whole file sets they are written as (``files``).

Renderers are pure (windows and a policy in, bytes out); only ``files`` writes. Imports the
model and :mod:`ctmaint.errors`; never the ledger, the channels, the clock or the CLI.
"""

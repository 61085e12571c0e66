"""The ledger: what was sent, posted and changed, in SQLite or in PostgreSQL for several hosts.

Owns the schema and its migrations, the one ledger API the rest uses (``ledger``), the
PostgreSQL backend and its URLs (``postgres``) and the record of the hosts sharing a ledger
(``peers``). It stores what it is given and knows no domain rule: of the model it imports only
the vocabulary and text helpers, besides :mod:`ctmaint.errors`.
"""

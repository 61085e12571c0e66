"""The domain: what a provider promises and what follows from it, as plain values.

Owns times and zones (``times``), the words shared by every layer (``vocabulary``), the
policy file (``policy``) and its rules (``rules``), contacts.csv (``contacts``), the windows
the rules make (``windows``), the operator changes applied to them (``changes``) and the
notices each window owes to whom (``notices``).

Pure: it reads its own files when asked, never the clock, the ledger or the network. It
imports nothing of ctmaint but :mod:`ctmaint.errors`.
"""

"""Sending: the pure decision of what is due for whom (``plan``) and the run that carries it
out through the channels and records every outcome in the ledger (``run``).

``plan`` performs nothing: it imports the model and the ledger's read side only. ``run``
imports the channels, the ledger and the clock. Nothing here knows the terminal.
"""

"""What each command does, as functions of typed arguments: build, check, send, the
operator changes and the read-only reports, over one :class:`~ctmaint.usecases.workspace.
Workspace` (the policy, contacts, ledger and time of one command).

Imports every layer below it; never typer or the terminal.
"""

"""The fault suite (issue 11): bad input and machine faults, each run as an operator would.

Every case runs ``ctmaint`` as a subprocess in a folder of its own and checks the generic
contract in :mod:`tests.faults.conftest`; docs/RELIABILITY.md lists the families and the
figures of the last run (``python tests/faults/report.py``).
"""

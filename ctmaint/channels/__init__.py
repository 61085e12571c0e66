"""How a notice reaches people: the message every channel renders from (``message``), the
transports behind one small protocol (``base``): the outbox folder, SendGrid, and the
status-page posts (``posts``).

A channel delivers and answers what happened; it never decides what is due (that is
:mod:`ctmaint.sending`). Imports the model, publishing's renderers, the ledger (posts are
recorded there), :mod:`ctmaint.clock` and :mod:`ctmaint.errors`.
"""

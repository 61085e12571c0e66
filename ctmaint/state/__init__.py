"""The ledger: what was sent, posted and changed, in SQLite or in PostgreSQL for several hosts.

Its modules, lowest first (imports point down this list, never up):

* ``dialects``: what differs between the two databases' SQL, schema version and errors;
* ``location``: where a state is, a SQLite file or a PostgreSQL URL, shown without secrets;
* ``ledger``: the one ledger API the rest uses (transactions, deliveries, posts, settings,
  the change log);
* ``migrations``: the schema, as one named function per version;
* ``sqlite`` and ``postgres``: opening each backend (files and their checks; connections,
  schemas, locks and the clock check), neither importing the other;
* ``open``: the one opener, which picks the backend for a location; ``migrate``: copying a
  SQLite ledger into PostgreSQL; ``peers``: the hosts sharing a ledger.

It stores what it is given and knows no domain rule: of the model it imports only the
vocabulary and text helpers, besides :mod:`ctmaint.errors`.
"""

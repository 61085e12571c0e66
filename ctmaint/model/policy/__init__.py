"""The policy file (TOML), loaded and validated into frozen, typed objects.

Validation reports every problem at once, each naming the file, the key and the fix. Zone
names become ZoneInfo, durations timedelta, rules :mod:`ctmaint.model.rules` objects, so
nothing downstream parses text again.

One module per section, each spec class reading its own table (``from_toml``): ``provider``
(``[provider]``, ``[products]``), ``stages``, ``calendars``, ``unscheduled`` and ``delivery``
(``[sendgrid]``, ``[send]``); ``document`` assembles them into :class:`Policy` and reads the
file; ``table`` is the toolkit they read with (required and optional keys, problems by key
path). Imports the rest of :mod:`ctmaint.model` and :mod:`ctmaint.errors` only.
"""

from ctmaint.model.policy.calendars import IMPACTS, UNSCHEDULED, CalendarSpec
from ctmaint.model.policy.delivery import PATIENCE_LIMITS, Patience, SendSettings
from ctmaint.model.policy.document import (
    DATA,
    EMBEDDED,
    KEYS,
    MAX_PUBLISH_DAYS,
    Policy,
    embedded_policy_text,
    example_contacts_text,
    example_subscriptions_text,
    file_outline,
    load_policy,
    parse_policy,
)
from ctmaint.model.policy.provider import TRANSPORTS, Product, Provider
from ctmaint.model.policy.stages import LeadStage
from ctmaint.model.policy.unscheduled import UnscheduledSpec

__all__ = [
    "DATA",
    "EMBEDDED",
    "IMPACTS",
    "KEYS",
    "MAX_PUBLISH_DAYS",
    "PATIENCE_LIMITS",
    "TRANSPORTS",
    "UNSCHEDULED",
    "CalendarSpec",
    "LeadStage",
    "Patience",
    "Policy",
    "Product",
    "Provider",
    "SendSettings",
    "UnscheduledSpec",
    "embedded_policy_text",
    "example_contacts_text",
    "example_subscriptions_text",
    "file_outline",
    "load_policy",
    "parse_policy",
]

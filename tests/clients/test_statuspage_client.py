"""The npm `statuspage.io` client (3.3.8) reads the notices/ folder, served as a status page's
public API v2, at Statuspage's own paths.

Its scheduledMaintenances getActive() and getAll() both request
/api/v2/scheduled-maintenances/upcoming.json (a bug of 3.3.8): only getUpcoming() is used for
what it fetches, and active.json and scheduled-maintenances.json are fetched through the
client's own axios instance (`apiClient`, the one its methods use).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctmaint.model.policy import Policy
from tests.clients.conftest import NEEDS_CLIENTS, Served, build, client_env, run_client, upcoming
from tests.conftest import CliRunner

pytestmark = NEEDS_CLIENTS

API = "/api/v2"
READER = """\
const { Statuspage } = require('statuspage.io');

async function main(base) {
  // Any page id: setApiUrl replaces the client's https://<page id>.statuspage.io base URL.
  const client = new Statuspage('ctmaint');
  client.setApiUrl(base);
  // 3.3.8's getActive() and getAll() request upcoming.json: these two paths go through the
  // client's own HTTP layer (the axios instance its methods use) instead.
  const get = (path) => client.apiClient.get(path).then((response) => response.data);
  const calls = {
    upcoming: () => client.api.scheduledMaintenances.getUpcoming(),
    active: () => get('/api/v2/scheduled-maintenances/active.json'),
    all: () => get('/api/v2/scheduled-maintenances.json'),
    summary: () => client.api.getSummary(),
    status: () => client.api.getStatus(),
    components: () => client.api.getComponents(),
  };
  const found = {};
  for (const [name, call] of Object.entries(calls)) {
    try {
      found[name] = { data: await call() };
    } catch (error) {
      const response = error.response;
      found[name] = {
        error: response
          ? `HTTP ${response.status} for ${error.config.url}`
          : `${error.code || ''} ${error.message}`,
      };
    }
  }
  process.stdout.write(JSON.stringify(found));
}

main(process.argv[2]);
"""

# (--now, the status-page window in progress then, if any)
MOMENTS = [
    ("2026-12-19T06:00:00Z", "monthly-2026-12-18"),  # all products, 05:00Z to 11:00Z
    ("2026-12-09T05:00:00Z", "connect-2026-12-08"),  # connect only, 04:00Z to 06:00Z
    ("2026-12-01T12:00:00Z", None),
]


class StatusPage:
    """What statuspage.io read, by call; a failed assertion for a call that failed."""

    def __init__(self, found: dict[str, dict[str, Any]], now: str) -> None:
        self.found = found
        self.now = now

    def __getitem__(self, call: str) -> Any:
        result = self.found[call]
        error = result.get("error")
        assert error is None, f"built at {self.now}, statuspage.io {call}: {error}"
        return result["data"]


def read_status_page(node_dir: Path, served: Served, now: str) -> StatusPage:
    script = node_dir / "statuspage.cjs"
    if not script.exists():
        script.write_text(READER)
    done = run_client(["node", script, served.url], client_env(), "statuspage.io reader")
    page = StatusPage(json.loads(done.stdout), now)
    assert f"{API}/scheduled-maintenances/upcoming.json" in served.paths, served.paths
    return page


def ids_and_statuses(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["id"], m["status"]) for m in document["scheduled_maintenances"]]


@pytest.mark.parametrize(("now", "active_id"), MOMENTS)
def test_the_statuspage_client_reads_the_notices(
    run_cli: CliRunner,
    tmp_path: Path,
    node_dir: Path,
    serve: Callable[[Path], Served],
    shipped: Policy,
    now: str,
    active_id: str | None,
) -> None:
    build(run_cli, now)
    windows = upcoming(run_cli, now, days=30)
    affected = set(windows[active_id]["products"]) if active_id else set()
    if active_id:
        assert windows[active_id]["status"] == "in-progress", windows[active_id]
    page = read_status_page(node_dir, serve(tmp_path / "notices"), now)

    scheduled = ids_and_statuses(page["upcoming"])
    assert scheduled, f"built at {now}, getUpcoming() read no maintenance"
    not_scheduled = [(i, s) for i, s in scheduled if s != "scheduled"]
    assert not not_scheduled, f"built at {now}, getUpcoming() read {not_scheduled}"

    active = ids_and_statuses(page["active"])
    expected_active = [(active_id, "in_progress")] if active_id else []
    assert active == expected_active, (
        f"built at {now}, {API}/scheduled-maintenances/active.json read {active}, "
        f"expected {expected_active}"
    )
    everything = dict(ids_and_statuses(page["all"]))
    assert {i for i, _ in scheduled + active} <= everything.keys()

    summary = page["summary"]
    missing = {"page", "components", "incidents", "scheduled_maintenances", "status"} - set(summary)
    assert not missing, f"built at {now}, getSummary() has no {sorted(missing)}: {sorted(summary)}"
    assert {"indicator", "description"} <= set(summary["status"]), summary["status"]

    indicator = "maintenance" if active_id else "none"
    status = page["status"]["status"]
    assert (status["indicator"], summary["status"]["indicator"]) == (indicator, indicator), (
        f"built at {now}, getStatus() read indicator {status['indicator']!r} and getSummary() "
        f"{summary['status']['indicator']!r}, expected {indicator!r}"
    )
    assert isinstance(status["description"], str)
    assert status["description"]

    components = {c["name"]: c["status"] for c in page["components"]["components"]}
    expected = {
        product.name: "under_maintenance" if product.id in affected else "operational"
        for product in shipped.products.values()
    }
    assert components == expected, (
        f"built at {now}, getComponents() read {components}, expected {expected}"
    )
    assert {c["name"]: c["status"] for c in summary["components"]} == expected

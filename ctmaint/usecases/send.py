"""`ctmaint send`: preview what is due (``--dry-run``) or deliver it, over one plan.

:func:`preview` decides on a read-only snapshot and reports what a run would do;
:func:`run` takes the send lock, decides on the ledger as it then is, and carries the plan
out through the channel (see :mod:`ctmaint.sending`). Both tell the same problems the same
way: contacts left out, notices that reach nobody, hosts that disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from msgspec import Struct

from ctmaint import clock
from ctmaint.channels import posts
from ctmaint.channels.base import Channel, Channels, Setup, make_channel
from ctmaint.errors import StateBusy
from ctmaint.model.contacts import rows_left_out
from ctmaint.model.notices import Notice
from ctmaint.publishing.files import remove_stale_temporaries
from ctmaint.sending import plan as sendplan
from ctmaint.sending.report import SendReport, describe
from ctmaint.sending.run import AnotherRunError, Run, carry_out, send_lock
from ctmaint.state import peers
from ctmaint.state.ledger import Deliveries, Ledger
from ctmaint.usecases.workspace import Workspace, host_files, notice_windows

# Given the number of deliveries a run will make, returns what to call as they are handled.
ProgressStart = Callable[[int], Callable[[int], None]]


class SendRequest(Struct, frozen=True):
    """What a run delivers through and where it writes: the channel (None: the policy's),
    the folder of status posts, and the outbox transport's folder (None: its default)."""

    transport: str | None = None
    notices_dir: Path = Path("notices")
    outbox: Path | None = None


def plan(workspace: Workspace) -> sendplan.SendPlan:
    """What `send` would do now, decided on a read-only snapshot."""
    policy, now, book = workspace.policy, workspace.now, workspace.book
    with workspace.reading() as ledger:
        windows = notice_windows(workspace, *sendplan.span(policy, now, ledger))
        return sendplan.make_plan(policy, ledger, windows, workspace.changes, book, now)


def preview(workspace: Workspace, every_recipient: bool = False) -> SendReport:
    """The report of a run now, without running it (`send --dry-run`): a few recipients of
    each notice by name, or ``every_recipient``."""
    _ = workspace.contacts  # read first, as a run does: bad rows are left out
    decided = plan(workspace)
    report = describe(decided, every_recipient)
    _tell_problems(report, workspace, decided)
    report.waiting = peers.waiting_lines(decided.unlisted, peers.host_name(workspace.cwd))
    return report


def run(
    workspace: Workspace, request: SendRequest, progress: ProgressStart | None = None
) -> SendReport:
    """The cron entry point: deliver and post every due notice once (see
    :mod:`ctmaint.sending.plan` for what is decided, :mod:`ctmaint.sending.run` for how)."""
    _ = workspace.contacts  # read before anything is claimed; bad rows left out
    name = request.transport or workspace.policy.provider.transport
    transport = make_transport(name, workspace, request.outbox)
    _ = workspace.subscriptions  # the same: a file others can read is left out, and said
    try:
        return _locked_run(workspace, transport, request, progress)
    except StateBusy as error:  # another session holds the write lock: leave as for ours
        raise AnotherRunError(str(error)) from None


def _locked_run(
    workspace: Workspace,
    transport: Channel,
    request: SendRequest,
    progress: ProgressStart | None,
) -> SendReport:
    """:func:`run`, once the transport is made: under the send lock, plan and carry out
    through the transport and each subscription channel, all within the run's deadline."""
    policy, now = workspace.policy, workspace.now
    with send_lock(workspace.state) as held:
        if held is None:
            raise AnotherRunError(
                "another `ctmaint send` on this state database is still running; "
                "this run did nothing"
            )
        ledger = workspace.ledger
        disagree = _meet_the_other_hosts(workspace, ledger) if workspace.shared else []
        transport.start()
        notices_dir = request.notices_dir
        remove_stale_temporaries(notices_dir / "posts")
        windows = notice_windows(workspace, *sendplan.span(policy, now, ledger))
        decided = sendplan.make_plan(
            policy, ledger, windows, workspace.changes, workspace.book, now
        )
        deadline = clock.monotonic() + policy.send.time_budget.total_seconds()
        outbox = workspace.outbox(request.outbox)
        setup = Setup(policy, outbox, workspace.subscriptions, deadline)
        channels = Channels(transport, setup)
        board = posts.StatusPosts(notices_dir, policy)
        context = Run(policy, Deliveries(ledger), channels, board, now, deadline)
        context.still_held = held
        if progress is not None and decided.deliveries:
            context.progress = progress(decided.deliveries)
        report = carry_out(decided, context)
        _tell_problems(report, workspace, decided)
        report.disagree = disagree
        report.waiting = peers.waiting_lines(decided.unlisted, ledger.host)
        failure = posts.refile(Deliveries(ledger), policy, workspace.changes, notices_dir, now)
        if failure:
            report.failed += 1
            report.failures.append(failure)
        return report


def _meet_the_other_hosts(workspace: Workspace, ledger: Ledger) -> list[str]:
    """On a shared state: refuse a host clock far from the server's, record this host's
    files, and say how the other hosts' differ."""
    from ctmaint.state.postgres import check_clock

    seen = datetime.fromtimestamp(clock.real_time(), UTC)
    check_clock(ledger, seen.timestamp())
    here = host_files(workspace)
    peers.record(ledger, here, seen)
    return peers.disagreements(ledger, here, seen)


def _tell_problems(report: SendReport, workspace: Workspace, decided: sendplan.SendPlan) -> None:
    """Put into ``report`` what a run and a preview both report about the files: the rows
    of contacts.csv left out (each problem, and how many rows of how many), the problems of
    subscriptions.csv, and the due notices that reach nobody."""
    problems = workspace.contact_problems
    if problems:
        report.left_out = [str(problem) for problem in problems]
        report.left_out_rows = rows_left_out(problems)
        report.contact_rows = len(workspace.contacts) + report.left_out_rows
    report.left_out += [str(problem) for problem in workspace.subscription_problems]
    report.nobody = nobody_told(workspace, decided.nobody)


def nobody_told(workspace: Workspace, notices: Sequence[Notice]) -> list[str]:
    """One line per due notice that reaches no one, naming it and why: the contacts file is
    missing, lists no one who can be read, or names no maintenance contact of an
    organization using the window's products."""
    path = workspace.policy.contacts_path

    def why(notice: Notice) -> str:
        if not path.exists():
            return f"{path} does not exist"
        if not workspace.contacts:
            return f"{path} lists no contact that can be read"
        used = " or ".join(notice.window.products)
        return f"no maintenance contact in {path} is of an organization using {used}"

    return [f"{notice.id} reached no one: {why(notice)}" for notice in notices]


def make_transport(name: str, workspace: Workspace, outbox: Path | None = None) -> Channel:
    """The channel ``name`` for ``workspace`` (see :func:`ctmaint.channels.base.make_channel`)."""
    return make_channel(name, Setup(workspace.policy, workspace.outbox(outbox)))

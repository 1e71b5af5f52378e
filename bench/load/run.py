"""One load test run, start to finish.

1. Start a sandbox subprocess (``mailroom sandbox --no-demo``) on free ports with a fresh data
   directory, and make the organisation through the admin API (:mod:`bench.load.org`).
2. Start the simulated agents, then the SMTP senders; the senders stop when the planned mix is
   sent (a bounded plan: ``emails`` mails).
3. Wait until the route function has caught up with the stream (:mod:`bench.load.quiet`, bounded
   by ``drain_timeout_s``). Agents keep working meanwhile; then they stop, and it catches up again.
4. Run the scheduled queue sweep until it assigns nothing more (:mod:`bench.load.sweep`).
5. Read the table once: the invariants (:mod:`sandbox.invariants`) and the latencies.
6. Stop the sandbox (only the processes this run started, by pid).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load.agents import AgentStats, SimulatedAgent
from bench.load.figures import ProcessSampler, latency
from bench.load.mix import MailMix, malformed_corpus, plan_kinds
from bench.load.org import seed_org
from bench.load.quiet import wait_until_routed
from bench.load.senders import Pacer, Sender, SendStats
from mailroom.table.client import Table
from sandbox.dynamodb_local import local_client
from sandbox.invariants import Ledger, Violation, check_invariants, snapshot
from tests.corpus import FLANKER_DIR
from tests.e2e.sandbox_process import SandboxProcess


@dataclass(frozen=True)
class LoadConfig:
    emails: int = 10_000
    senders: int = 4
    agents: int = 8
    tight_capacity: int = 5  # the sales team's agents
    reply_share: float = 0.30
    duplicate_share: float = 0.05
    malformed_share: float = 0.01
    attachments: int = 5  # mails with a 1 to 4 MB attachment
    agent_think_s: float = 0.5  # between an agent's actions (a busy person, not a script)
    rate: float | None = None  # mails a second in all; None: as fast as the senders are answered
    seed: int = 8
    drain_timeout_s: float = 3600.0
    corpus_dir: Path = FLANKER_DIR
    data_dir: Path | None = None  # kept after the run when given; a temporary directory otherwise
    # DynamoDB Local in memory (``mailroom sandbox --table-in-memory``): its SQLite file's disk
    # writes are not part of the product (DynamoDB is, on AWS), and they slow every request.
    table_in_memory: bool = True
    # The directory (mailboxes, teams) reused per process for this long, as the CDK app configures
    # the functions on AWS (``infra/config.py``); the sandbox's own default reads it every time.
    directory_cache_seconds: float = 5.0


@dataclass
class LoadResult:
    figures: dict[str, Any]
    violations: list[Violation] = field(default_factory=list)


def sandbox_table(data_dir: Path) -> Table:
    state = json.loads((data_dir / "sandbox.json").read_text())
    return Table(state["table_name"], local_client("dynamodb", state["dynamodb_endpoint"]))


def sweep_until_idle(data_dir: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.load.sweep", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def running_sandbox(config: LoadConfig) -> Iterator[SandboxProcess]:
    with tempfile.TemporaryDirectory(prefix="mailroom-load-") as tmp:
        data_dir = config.data_dir or Path(tmp) / "data"
        extra = ("--table-in-memory",) if config.table_in_memory else ()
        env = {"MAILROOM_DIRECTORY_CACHE_SECONDS": f"{config.directory_cache_seconds:g}"}
        sandbox = SandboxProcess(data_dir=data_dir, extra_args=extra, env=env).start(timeout=180)
        try:
            yield sandbox
        finally:
            sandbox.stop()


@dataclass
class Stopwatch:
    """Seconds spent in each phase of the run, in order."""

    laps: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.monotonic)

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self._last, 1)
        self._last = now


def run(config: LoadConfig) -> LoadResult:
    watch = Stopwatch()
    with running_sandbox(config) as sandbox:
        assert sandbox.process is not None
        watch.lap("sandbox_start")
        sampler = ProcessSampler(sandbox.process.pid).start()
        try:
            result = _drive(config, sandbox, sampler, watch)
        finally:
            sampler.stop()
    watch.lap("sandbox_stop")
    result.figures["phases_s"] = watch.laps
    return result


def _drive(
    config: LoadConfig, sandbox: SandboxProcess, sampler: ProcessSampler, watch: Stopwatch
) -> LoadResult:
    org = seed_org(sandbox, agents=config.agents, tight_capacity=config.tight_capacity)
    rng = random.Random(config.seed)
    kinds = plan_kinds(
        config.emails,
        rng,
        reply_share=config.reply_share,
        duplicate_share=config.duplicate_share,
        malformed_share=config.malformed_share,
        attachments=config.attachments,
    )
    corpus = malformed_corpus(config.corpus_dir)
    mix = MailMix(
        kinds=kinds,
        mailboxes=org.mailboxes,
        mailbox_weights=org.mailbox_weights,
        corpus=corpus,
        seed=config.seed,
        run_id=uuid.uuid4().hex[:8],
        customers=max(2, config.emails // 5),
    )
    ledger, send_stats, agent_stats = Ledger(), SendStats(), AgentStats()
    stop_agents = threading.Event()
    agents = [
        SimulatedAgent(
            email=email,
            sandbox=sandbox,
            mix=mix,
            ledger=ledger,
            stats=agent_stats,
            stop=stop_agents,
            seed=config.seed + n,
            think_s=config.agent_think_s,
        )
        for n, email in enumerate(org.agents)
    ]
    pacer = Pacer(config.rate)
    senders = [
        Sender(
            name=f"sender-{n}",
            host="127.0.0.1",
            port=sandbox.smtp_port,
            mix=mix,
            ledger=ledger,
            stats=send_stats,
            pacer=pacer,
        )
        for n in range(max(1, config.senders))
    ]
    watch.lap("seed_and_plan")
    for thread in [*agents, *senders]:
        thread.start()
    for sender in senders:
        sender.join()
    sent_at = time.time()
    watch.lap("send")
    table = sandbox_table(sandbox.data_dir)
    drained = wait_until_routed(sandbox.data_dir, config.drain_timeout_s)
    drained_at = time.time()
    watch.lap("until_routed")
    stop_agents.set()
    for agent in agents:
        agent.join(timeout=120)
    drained = wait_until_routed(sandbox.data_dir, config.drain_timeout_s) and drained
    watch.lap("agents_stop")
    swept = sweep_until_idle(sandbox.data_dir)
    watch.lap("final_sweep")
    snap = snapshot(table)
    violations = check_invariants(snap, sandbox.outbox, ledger, raw_store_dir=sandbox.data_dir / "store")
    sampler.sample()
    watch.lap("check")
    figures = _figures(
        config,
        ledger=ledger,
        send_stats=send_stats,
        agent_stats=agent_stats,
        mix=mix,
        corpus_files=len(corpus),
        timing={"sent_at": sent_at, "drained_at": drained_at, "drained": drained},
        swept=swept,
    )
    figures["latency"] = latency(snap, ledger)
    figures["memory"] = sampler.report()
    sandbox_cpu = sum(s for name, s in figures["memory"]["cpu_s"].items() if name != "load_generator")
    # CPU seconds the sandbox's processes spent per accepted email (everything: ingest, routing,
    # the API the agents used, DynamoDB Local, idle stream polling): the figure a busy machine
    # does not distort; 2 cores / this = what an otherwise idle 2-core machine could sustain.
    figures["throughput"]["sandbox_cpu_s_per_email"] = (
        round(sandbox_cpu / send_stats.accepted, 3) if send_stats.accepted else None
    )
    figures["table"] = {
        "conversations": len(snap.conversations),
        "inbound_messages": len(snap.inbound()),
        "outbound_messages": len(snap.messages) - len(snap.inbound()),
        "routable_inbound_not_routed": len(
            {(str(m["conversation_id"]), str(m["key"])) for m in snap.inbound() if m.get("routable")}
            - snap.routed
        ),
        "unassigned_open": sum(
            1 for c in snap.conversations.values() if c.get("status") == "open" and not c.get("assignee")
        ),
    }
    figures["invariants"] = {
        "violations": len(violations),
        "by_invariant": _count_by(violations),
        "first": [str(v) for v in violations[:50]],
    }
    return LoadResult(figures=figures, violations=violations)


def _count_by(violations: list[Violation]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for violation in violations:
        counts[violation.invariant] = counts.get(violation.invariant, 0) + 1
    return counts


def _figures(
    config: LoadConfig,
    *,
    ledger: Ledger,
    send_stats: SendStats,
    agent_stats: AgentStats,
    mix: MailMix,
    corpus_files: int,
    timing: dict[str, Any],
    swept: dict[str, int],
) -> dict[str, Any]:
    first = send_stats.first_send or timing["sent_at"]
    sending_s = (send_stats.last_accept or timing["sent_at"]) - first
    pipeline_s = timing["drained_at"] - first
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    return {
        "config": settings,
        "mail": {
            "planned_by_kind": dict(sorted(mix.sent_kinds.items())),
            "accepted": send_stats.accepted,
            "accepted_mib": round(send_stats.accepted_bytes / 2**20, 1),
            "refused": dict(send_stats.refused),
            "connection_errors": dict(send_stats.errors),
            "malformed_corpus_files": corpus_files,
        },
        "throughput": {
            "smtp_accepted_per_s": round(send_stats.accepted / sending_s, 2) if sending_s > 0 else None,
            "pipeline_per_s": round(send_stats.accepted / pipeline_s, 2) if pipeline_s > 0 else None,
            "sending_s": round(sending_s, 1),
            "until_routed_s": round(pipeline_s, 1),
            # False: the invariants were read while routing still ran (assignment checks may fail).
            "routed_within_timeout": timing["drained"],
        },
        "agents": {
            "replies": agent_stats.replies,
            "replayed_with_same_key": agent_stats.replayed,
            "claims": agent_stats.claims,
            "reply_requests_recorded": len(ledger.replies),
            "refused": dict(agent_stats.refused),
            "errors": dict(agent_stats.errors),
        },
        "final_sweep": swept,
    }


def summary(figures: dict[str, Any]) -> str:
    """The figures for people: a few lines."""
    mail, speed, lat = figures["mail"], figures["throughput"], figures["latency"]
    accepted = lat["accepted_to_assigned_s"]
    memory = ", ".join(f"{name} {mib} MiB" for name, mib in figures["memory"]["peak_rss_mib"].items())
    invariants = figures["invariants"]
    lines = [
        f"sent {sum(mail['planned_by_kind'].values())} mails {mail['planned_by_kind']}; "
        f"accepted {mail['accepted']} ({mail['accepted_mib']} MiB), refused {mail['refused'] or 0}",
        f"throughput: {speed['smtp_accepted_per_s']} emails/s accepted over {speed['sending_s']} s; "
        f"{speed['pipeline_per_s']} emails/s until everything was routed ({speed['until_routed_s']} s)",
        f"SMTP accepted -> assigned: p50 {accepted['p50']} s, p95 {accepted['p95']} s, "
        f"p99 {accepted['p99']} s "
        f"over {accepted['count']} new conversations; by mailbox "
        + "; ".join(
            f"{mb} p50 {v['p50']} p95 {v['p95']} p99 {v['p99']}"
            for mb, v in lat["accepted_to_assigned_by_mailbox_s"].items()
        ),
        f"agents: {figures['agents']['replies']} replies, {figures['agents']['claims']} claims, "
        f"refused {figures['agents']['refused'] or 0}",
        f"peak memory: {memory}",
        f"machine: {figures['memory']['machine']}",
        "invariants: all hold"
        if invariants["violations"] == 0
        else f"invariants: {invariants['violations']} VIOLATIONS {invariants['by_invariant']}",
    ]
    return "\n".join(lines)

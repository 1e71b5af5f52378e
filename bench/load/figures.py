"""The load test's figures: latency percentiles, throughput, and the peak memory of each process.

Latency, SMTP accepted → assigned: for each mail that opened a conversation, from the moment the
sender read the server's ``250`` (``time.time()`` in the load generator) to the ``at`` of the
conversation's first ``assigned`` audit event (written by the route function, the sweep or a claim).
Both are the same machine's clock (the sandbox runs on 127.0.0.1), so they compare without skew.
The sandbox ingests before it answers 250, so this is the asynchronous part: stream, routing,
assignment. ``received_to_assigned`` adds ingest and the SMTP DATA time: from the message item's
``received_at`` (the SMTP server's clock when the DATA arrived) to the same event.

Peak memory: ``VmHWM`` (the resident set's high-water mark) from ``/proc/<pid>/status`` of the
sandbox process and every descendant (DynamoDB Local's java, the API's worker processes), sampled
through the run so that a process that ends early is counted too. CPU seconds (``/proc/<pid>/stat``)
of the same processes and of the load generator, and the machine's load average through the run:
on a shared machine, what else was competing for the CPUs.
"""

from __future__ import annotations

import os
import re
import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailroom.clock import parse_iso
from sandbox.invariants import Ledger, Snapshot
from tests.e2e.sandbox_process import children_of

VM_HWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {
        "count": len(values),
        "p50": round(cuts[49], 3),
        "p95": round(cuts[94], 3),
        "p99": round(cuts[98], 3),
        "max": round(max(values), 3),
    }


def first_assignments(snap: Snapshot) -> dict[str, tuple[float, str]]:
    """Conversation id -> (epoch seconds, actor) of its first ``assigned`` event."""
    first: dict[str, tuple[float, str]] = {}
    for conversation_id, events in snap.events.items():
        for event in events:  # in time order
            if event.get("type") == "assigned":
                first[conversation_id] = (parse_iso(str(event["at"])).timestamp(), str(event.get("actor")))
                break
    return first


def latency(snap: Snapshot, ledger: Ledger) -> dict[str, Any]:
    """Percentiles (seconds) of accepted → assigned and received → assigned, overall and per mailbox,
    for the mails that opened a conversation; and how those conversations were first assigned."""
    items = {
        (str(m.get("ses_message_id")), str(m["mailbox"])): m
        for m in snap.inbound()
        if m.get("threaded_by") == "new"
    }
    assigned = first_assignments(snap)
    accepted: dict[str, list[float]] = defaultdict(list)
    received: dict[str, list[float]] = defaultdict(list)
    by_actor: dict[str, int] = defaultdict(int)
    waiting, never = 0, 0
    for mail in ledger.mails:
        if mail.kind not in {"new", "attachment"}:
            continue
        for mailbox in mail.mailboxes:
            item = items.get((mail.ses_message_id, mailbox))
            if item is None:
                continue
            conversation_id = str(item["conversation_id"])
            first = assigned.get(conversation_id)
            if first is None:
                conversation = snap.conversations.get(conversation_id, {})
                if conversation.get("status") == "open" and not conversation.get("assignee"):
                    waiting += 1  # still queued: assigned_when_possible says no one has room
                else:
                    never += 1
                continue
            at, actor = first
            by_actor["routing" if actor == "route" else "agent"] += 1  # the sweep acts as route too
            accepted[mailbox].append(at - mail.accepted_at)
            received[mailbox].append(at - parse_iso(str(item["received_at"])).timestamp())
    return {
        "accepted_to_assigned_s": percentiles([v for values in accepted.values() for v in values]),
        "received_to_assigned_s": percentiles([v for values in received.values() for v in values]),
        "accepted_to_assigned_by_mailbox_s": {mb: percentiles(v) for mb, v in sorted(accepted.items())},
        "first_assigned_by": dict(sorted(by_actor.items())),
        # Opened a conversation that is still in its queue when the run ends: every agent who could
        # take it is at capacity (the unassigned_with_available_agent invariant checks that).
        "queued_at_end": waiting,
        # Opened a conversation that was closed, or is held, without ever being assigned: a defect.
        "never_assigned": never,
    }


def process_name(pid: int, root: int) -> str:
    if pid == root:
        return "sandbox"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "DynamoDBLocal" in cmdline or cmdline.startswith("java"):
        return "dynamodb_local_java"
    if "resource_tracker" in cmdline:
        return "multiprocessing_resource_tracker"
    if "multiprocessing" in cmdline:
        return "api_worker"
    return cmdline.split(" ")[0].rsplit("/", 1)[-1] or "unknown"


def vm_hwm_kb(pid: int) -> int | None:
    try:
        found = VM_HWM.search(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessSampler:
    """Samples VmHWM and CPU time of ``root`` and its descendants every ``interval_s`` until stopped
    (the loading process itself is sampled too, as ``load_generator``)."""

    root: int
    interval_s: float = 1.0
    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)  # pid -> (name, kB)
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds at the last sample
    load: list[float] = field(default_factory=list)  # the machine's 1-minute load average, per sample
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for pid in {self.root, *children_of(self.root)}:
            kb = vm_hwm_kb(pid)
            if kb is None:
                continue
            name = self.peaks[pid][0] if pid in self.peaks else process_name(pid, self.root)
            self.peaks[pid] = (name, max(kb, self.peaks.get(pid, (name, 0))[1]))
            self.cpu[pid] = cpu_seconds(pid) or self.cpu.get(pid, 0.0)
        self.cpu[os.getpid()] = cpu_seconds(os.getpid()) or 0.0
        self.load.append(os.getloadavg()[0])

    def start(self) -> ProcessSampler:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, name="process-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _labels(self) -> dict[int, str]:
        labels: dict[int, str] = {}
        counts: dict[str, int] = defaultdict(int)
        for pid, (name, _) in sorted(self.peaks.items()):
            counts[name] += 1
            labels[pid] = name if name in {"sandbox", "dynamodb_local_java"} else f"{name}_{counts[name]}"
        return labels

    def report(self) -> dict[str, Any]:
        """Peak MiB and CPU seconds per process (``api_worker`` and the like numbered in pid order)."""
        labels = self._labels()
        cpu = {labels[pid]: round(seconds, 1) for pid, seconds in sorted(self.cpu.items()) if pid in labels}
        cpu["load_generator"] = round(self.cpu.get(os.getpid(), 0.0), 1)
        return {
            "peak_rss_mib": {labels[pid]: round(kb / 1024, 1) for pid, (_, kb) in sorted(self.peaks.items())},
            "cpu_s": cpu,
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1m_mean": round(statistics.fmean(self.load), 1) if self.load else None,
                "load_average_1m_max": round(max(self.load), 1) if self.load else None,
            },
            "pids": {str(pid): label for pid, label in sorted(labels.items())},
        }

"""Two git revisions served and loaded alternately in one sitting: a change's effect as one command, one table.

Each revision is exported with `git archive` into a temporary folder ("worktree" is the work tree as it
stands) and served from there by this environment's python with the same model folder, settings and clients.
Rounds alternate base, head, base, head, ..., so a shared machine's drifting load falls on both alike; the
table gives each round and each revision's median.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadResult, measure
from bench.server_process import ROOT, ServerProcess

WORK_TREE = "worktree"


@dataclass
class RevisionRuns:
    revision: str
    root: Path
    runs: list[LoadResult] = field(default_factory=list)

    def median(self, metric: str) -> float:
        return statistics.median(getattr(run, metric) for run in self.runs)


def merge_base(branch: str = "main") -> str:
    """Where the work tree's branch left `branch`: the default base of a comparison."""
    command = ["git", "merge-base", "HEAD", branch]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def export(revision: str, into: Path) -> Path:
    """The revision's tracked files in a folder of `into` (the work tree itself for "worktree")."""
    if revision == WORK_TREE:
        return ROOT
    folder = into / revision.replace("/", "_")
    folder.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def package_of(root: Path) -> str:
    """The revision's package: `motivnet_serve`, or `service` before the layout moved (so a comparison can
    reach back across the move)."""
    return "motivnet_serve" if (root / "motivnet_serve").is_dir() else "service"


def measure_round(
    revisions: list[RevisionRuns], options: list[str], env: dict[str, str], load: dict, startup_timeout: float
) -> None:
    """One server run per revision, in the order given, each loaded the same way (`load`: measure's kwargs)."""
    for revision in revisions:
        with ServerProcess(*options, module=package_of(revision.root), env=env, root=revision.root) as server:
            server.wait_ready(startup_timeout)
            revision.runs.append(asyncio.run(measure(server.url, **load)))


def format_revisions(revisions: list[RevisionRuns]) -> str:
    lines = [f"{'revision':>14} {'round':>5} {'img/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6} {'errors':>6}"]
    for revision in revisions:
        for index, r in enumerate(revision.runs, 1):
            lines.append(
                f"{revision.revision[:14]:>14} {index:5d} {r.images_per_s:7.2f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} "
                f"{r.mean_batch_size:6.2f} {r.errors:6d}"
            )
        medians = [revision.median(metric) for metric in ("images_per_s", "p50_ms", "p99_ms")]
        lines.append(f"{revision.revision[:14]:>14} {'med':>5} {medians[0]:7.2f} {medians[1]:8.1f} {medians[2]:8.1f}")
    base, head = revisions
    ratio = head.median("images_per_s") / base.median("images_per_s")
    tail = head.median("p99_ms") / base.median("p99_ms")
    lines.append(f"head / base: throughput x{ratio:.2f}, p99 x{tail:.2f}")
    return "\n".join(lines)

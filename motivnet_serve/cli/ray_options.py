"""`analyze --ray [ADDRESS]` (and `evaluate`): the options that send the job to a Ray cluster.

Apart from `analyze` so that the cluster's options stay in one place; ray itself is imported only once the job
runs with `--ray` (`motivnet_serve.pipelines.collection.cluster`), never by these options.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("on a Ray cluster (the 'ray' extra; docs/analyze-ray.md)")
    group.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on the Ray cluster at ADDRESS (host:port); alone: RAY_ADDRESS, or a new cluster on this machine",
    )
    group.add_argument("--actors", type=int, default=1, help="actors that each hold one model (default 1)")
    group.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs each actor reserves (default 0)")
    group.add_argument("--cpus-per-actor", type=float, default=1.0, help="CPUs each actor reserves (default 1)")


def ray_options(args: argparse.Namespace) -> Any:
    """The job's `RayOptions`, or None to run in this process; a bad width is a usage mistake (exit 2)."""
    if args.ray is None:
        return None
    if args.actors < 1 or args.gpus_per_actor < 0 or args.cpus_per_actor < 0:
        raise ValueError("--actors must be at least 1, --gpus-per-actor and --cpus-per-actor at least 0")
    if importlib.util.find_spec("ray") is None:
        raise ValueError("--ray needs the 'ray' extra: pip install 'motivnet-serve[ray]'")
    from motivnet_serve.pipelines.collection.stages import RayOptions

    return RayOptions(args.ray or None, args.actors, args.gpus_per_actor, args.cpus_per_actor)

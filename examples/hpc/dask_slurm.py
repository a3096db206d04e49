"""Run ``nmrpeak predict`` on a Dask cluster made of SLURM jobs (dask-jobqueue).

This script starts a Dask scheduler here (a login node or a small SLURM job), submits
``--worker-jobs`` SLURM jobs that each run ``--cores`` single-threaded Dask workers, waits for
the first worker, and runs ``nmrpeak predict ... --backend dask --scheduler ADDRESS`` as a
subprocess. nmrpeak reads the input and writes the output here; only batches of records travel
to the workers, which load the model once per worker process. The output is resumable: run the
same command again after an interruption and finished batches are skipped (``--resume``).

Needs ``pip install dask-jobqueue 'nmrpeak-cli[dask]'`` in an environment the compute nodes
see at the same path (the workers are started with this Python).

Example::

    python examples/hpc/dask_slurm.py molecules.smi -o predictions.parquet \\
        --worker-jobs 8 --cores 16 --memory 32GB --walltime 02:00:00 --queue cpu
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="Molecules (.smi, a table with a smiles column, .sdf).")
    parser.add_argument("-o", "--output", required=True, help="Output file (.parquet ...).")
    parser.add_argument("--worker-jobs", type=int, default=4, help="SLURM jobs to submit.")
    parser.add_argument("--cores", type=int, default=8, help="Cores (= workers) per job.")
    parser.add_argument("--memory", default="16GB", help="Memory per job.")
    parser.add_argument("--walltime", default="02:00:00", help="Walltime per job.")
    parser.add_argument("--queue", default=None, help="SLURM partition (-p).")
    parser.add_argument("--account", default=None, help="SLURM account (-A).")
    parser.add_argument(
        "--interface", default=None, help="Network interface of the nodes, e.g. ib0."
    )
    parser.add_argument(
        "--prologue",
        action="append",
        default=[],
        help="Shell line run before each worker starts (repeatable), e.g. 'module load cuda'.",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="Molecules per task.")
    parser.add_argument(
        "--wait", type=float, default=600, help="Seconds to wait for the first worker."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the cluster, run nmrpeak against it, shut it down; returns nmrpeak's exit code."""
    args = parse_args(argv)
    try:
        from dask.distributed import Client
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        print(
            f"this script needs dask-jobqueue and distributed ({exc}); "
            "pip install dask-jobqueue 'nmrpeak-cli[dask]'",
            file=sys.stderr,
        )
        return 2
    nmrpeak = shutil.which("nmrpeak")
    command = [nmrpeak] if nmrpeak else [sys.executable, "-m", "nmrpeak_cli.cli.app"]
    cluster = SLURMCluster(
        cores=args.cores,
        processes=args.cores,  # one single-threaded worker per core: torch runs one thread
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        interface=args.interface,
        job_script_prologue=args.prologue,
        log_directory="logs",
    )
    try:
        cluster.scale(jobs=args.worker_jobs)
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=args.wait)
        print(f"Dask scheduler at {cluster.scheduler_address}", file=sys.stderr)
        predict = [
            *command, "predict", args.input, "-o", args.output,
            "--backend", "dask", "--scheduler", cluster.scheduler_address,
            # bounds the batches in flight: one per worker, a few queued
            "--jobs", str(args.worker_jobs * args.cores),
            "--batch-size", str(args.batch_size),
            "--resume",
        ]  # fmt: skip
        completed = subprocess.run(predict, check=False)
    finally:
        cluster.close()
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())

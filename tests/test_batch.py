"""Sharding and the ordered parallel map."""

from __future__ import annotations

import pytest

from nmrpeak_cli.batch import Shard, parallel_map, resolve_shard


def test_shards_partition_the_input():
    items = list(range(23))
    parts = [list(Shard(i, 4).select(items)) for i in range(4)]
    assert sorted(x for part in parts for x in part) == items, "shards must cover every record once"
    assert parts[1] == [1, 5, 9, 13, 17, 21]


@pytest.mark.parametrize("text", ["4/4", "-1/3", "a/b", "3", "1/0"])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(ValueError, match="shard"):
        Shard.parse(text)


def test_shard_from_slurm_environment():
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "3"}
    assert Shard.from_env(env) == Shard(2, 4)
    assert Shard.from_env({}) == Shard(0, 1)
    assert resolve_shard("1/2") == Shard(1, 2)


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel_map_keeps_order(jobs):
    seen: list[int] = []
    out = list(parallel_map(_square, range(50), jobs=jobs, chunk_size=4, on_result=seen.append))
    assert out == [x * x for x in range(50)]
    assert sum(seen) == 50, "progress callback called once per result"


@pytest.mark.slow
def test_parallel_map_on_a_local_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        out = list(
            parallel_map(
                _square, range(20), jobs=2, chunk_size=2, scheduler=cluster.scheduler_address
            )
        )
    assert out == [x * x for x in range(20)], "Dask backend keeps input order"

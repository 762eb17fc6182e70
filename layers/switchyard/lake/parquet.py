"""Arrow tables as Parquet files the way Athena, Spark and DuckDB read them best."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

# An hour of one table rarely exceeds it, so most files are a single row group; bigger ones split
# into groups of some tens of MB compressed that engines read in parallel and skip by statistics.
ROW_GROUP_ROWS = 131_072
COMPRESSION = "zstd"


def write_parquet(table: pa.Table) -> bytes:
    """`table` as the bytes of a Parquet file: zstd, with min/max statistics for every column."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=True,
        coerce_timestamps="us",
    )
    return sink.getvalue().to_pybytes()


def read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))

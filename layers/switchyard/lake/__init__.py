"""The warehouse-ready lake: archived Segment messages as Parquet tables in Segment's warehouse schema.

Pure domain code, no AWS: `naming` (table and column names as Segment makes them), `rows` (an hour's
messages to the rows of each table), `arrow` (rows to typed Arrow tables, honouring the catalog's
column types) and `parquet` (Arrow tables to Parquet bytes and back).
"""

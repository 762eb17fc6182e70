"""bench/scaling.py runs end to end at tiny sizes: a table row per size and a PNG per curve (no timing)."""

from __future__ import annotations

from pathlib import Path

from bench import scaling


def test_curves_at_tiny_sizes_print_a_row_per_size_and_write_a_plot(tmp_path: Path, capsys) -> None:
    done = scaling.curves(
        ingest_sizes=(1, 3), router_sizes=(2, 4, 8), replay_sizes=(24, 48), out_dir=tmp_path, quick=True
    )

    assert [curve.name for curve, _ in done] == ["ingest", "router", "replay-plan"]
    assert [curve.sizes for curve, _ in done] == [(1, 3), (2, 4, 8), (24, 48)]
    printed = capsys.readouterr().out
    for curve, path in done:
        assert path.parent == tmp_path and path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        rows = curve.rows()
        assert [size for size, _, _ in rows] == list(curve.sizes)
        assert rows[0][2] == 1.0 and all(micro > 0 for _, micro, _ in rows)
        table = curve.table().splitlines()
        assert len(table) == 2 + len(curve.sizes)  # title, header, one row per size
        assert curve.table() in printed
        figure = curve.figure()
        assert figure.value == rows[-1][2] and figure.target == scaling.FLAT_OR_BETTER


def test_an_ingest_batch_over_the_request_limit_is_measured_at_the_most_that_fit() -> None:
    from switchyard.constants import MAX_BATCH_BYTES

    fitting = scaling.largest_batch_within_limit(MAX_BATCH_BYTES, 500)
    assert len(scaling.batch_body(fitting)) <= MAX_BATCH_BYTES < len(scaling.batch_body(fitting + 1))

    curve = scaling.ingest_curve((1, 500), rounds=1, min_seconds=0.0)

    assert curve.sizes == (1, fitting)
    assert "500" in curve.note and str(fitting) in curve.note
    assert len(curve.table().splitlines()) == 2 + 2 + 1  # title, header, two rows, the note

"""Write a synthetic delivery to a folder: the pilot design or the comparison design.

The designs themselves live in :mod:`cohort.synth.generate` (the pilot sites of the progress
report) and :mod:`cohort.synth.comparison` (staggered pilot starts and comparison regions);
this module picks one and writes its tables chunk by chunk.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cohort.delivery.schema import TABLES
from cohort.exceptions import ParameterError
from cohort.synth import comparison
from cohort.synth.generate import (
    _FAULT_COLUMNS,
    DEFAULT_SEED,
    FAULTS_FILE,
    _check_households,
    _iter_chunks,
    _sites_frame,
    _write_csv,
    plant_faults,
    write_declarations,
)

__all__ = ["DESIGNS", "FAULTS_FILE", "synthesize"]


#: The designs :func:`synthesize` writes: the pilot sites of the progress report (calibrated
#: default) and the comparison design (:mod:`cohort.synth.comparison`).
DESIGNS = ("pilot", "comparison")


def synthesize(out_dir, seed: int | None = None, households: int | None = None, faults: bool = False,
               format: str = "csv", design: str = "pilot") -> dict:
    """Generate a delivery and write it to ``out_dir``; return a summary (row counts).

    ``design="comparison"`` writes the comparison design of :mod:`cohort.synth.comparison`
    (pilot sites with staggered starts and comparison regions; default seed
    :data:`~cohort.synth.comparison.COMPARISON_SEED`, ``households=None`` its bundled size).
    ``seed=None`` is the design's default seed.

    Scaled deliveries are written chunk by chunk (50,000 households at a time), so
    memory stays bounded whatever ``households`` is. With ``faults`` the planted faults
    (all in the first chunk) are listed in ``.faults.csv`` next to the tables (a dot file,
    which readers of the delivery skip).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     synthesize(tmp, seed=5, households=100)["rows"]["households"]
    100
    """
    if design not in DESIGNS:
        raise ParameterError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")
    if design == "comparison":
        seed = comparison.COMPARISON_SEED if seed is None else seed
        if faults:
            raise ParameterError("--faults plants faults in the pilot design only; leave out --design")
    seed = DEFAULT_SEED if seed is None else seed
    _check_households(households, seed)
    if format not in ("csv", "parquet"):
        raise ParameterError(f"--format must be csv or parquet, got {format!r}")
    if faults and format != "csv":
        raise ParameterError("--faults plants faults in the delivered text; use --format csv")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calibration: dict = {}
    writers: dict = {}
    fault_frame = pd.DataFrame(columns=_FAULT_COLUMNS)
    if design == "comparison":
        sites = comparison.sites_frame()
        chunks = ((frames, {}) for frames in comparison.iter_chunks(seed, households))
    else:
        sites = _sites_frame()
        chunks = _iter_chunks(seed, households)
    rows = {"sites": len(sites)}
    try:
        for i, (frames, cal) in enumerate(chunks):
            calibration.update(cal)
            tables = {"sites": sites, **frames}
            if faults and i == 0:
                tables, fault_frame = plant_faults(tables, seed=seed)
            if i > 0:
                tables.pop("sites")
            for name in TABLES:
                if name not in tables:
                    continue
                df = tables[name]
                rows[name] = rows.get(name, 0) + len(df) if name != "sites" else len(df)
                path = out / f"{name}.{format}"
                if format == "csv":
                    _write_csv(df, path, header=(i == 0))
                else:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    table = pa.Table.from_pandas(df, preserve_index=False)
                    if name not in writers:
                        writers[name] = pq.ParquetWriter(path, table.schema)
                    writers[name].write_table(table.cast(writers[name].schema))
    finally:
        for w in writers.values():
            w.close()
    write_declarations(out)
    if faults:
        _write_csv(fault_frame, out / FAULTS_FILE, header=True)
    return {"rows": rows, "calibration": calibration, "faults": len(fault_frame)}

"""``cohort notebooks --refresh``: re-execute the committed notebooks in place."""

from __future__ import annotations

import os

NAME = "notebooks"
HELP = "re-execute the notebooks in notebooks/ on the bundled synthetic data (interim parameters), in place"


def register(parser) -> None:
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="re-execute every notebook and store its outputs (after an intended change)",
    )
    parser.add_argument(
        "--params",
        default=None,
        help="parameter file the notebooks' parameters cells must match (default: parameters/interim-2024q4.yaml)",
    )
    parser.add_argument("--jobs", "-j", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.add_argument("names", nargs="*", metavar="NOTEBOOK", help="only these notebooks (file stems)")


def run(args) -> int:
    from cohort.exceptions import ParameterError
    from cohort.report.build import NOTEBOOKS
    from cohort.report.rebuild import refresh_notebooks

    if not args.refresh:
        for name in NOTEBOOKS:
            print(f"notebooks/{name}.ipynb")
        print("use --refresh to re-execute them in place")
        return 0
    names = tuple(args.names) or NOTEBOOKS
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ParameterError(f"unknown notebook {unknown[0]!r}; known: {', '.join(NOTEBOOKS)}")
    paths = refresh_notebooks(args.params, jobs=args.jobs, progress=not args.no_progress, names=names)
    for path in paths:
        print(f"refreshed {path.parent.name}/{path.name}")
    return 0

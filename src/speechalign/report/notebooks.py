"""Running the report notebooks with papermill, in the current interpreter's kernel."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from speechalign.errors import UserFacingError


def execute(notebook: str | os.PathLike, out: str | os.PathLike, parameters: Mapping[str, Any]) -> None:
    """Execute ``notebook`` with ``parameters`` into ``out`` (replaced in one rename on success).

    A failing cell fails the call; ``out`` keeps its previous content and the executed notebook with the
    error is kept beside it as ``<out>.failed.ipynb`` for reading.
    """
    import papermill

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.ipynb")
    try:
        papermill.execute_notebook(
            str(notebook),
            str(tmp),
            parameters=dict(parameters),
            kernel_name="python3",
            progress_bar=False,
            cwd=os.getcwd(),
        )
    except papermill.PapermillExecutionError as err:
        if tmp.exists():
            os.replace(tmp, out.with_suffix(".failed.ipynb"))
        raise UserFacingError(
            f"{notebook} failed in cell {err.exec_count}: {err.ename}: {err.evalue} "
            f"(see {out.with_suffix('.failed.ipynb')})"
        ) from err
    os.replace(tmp, out)

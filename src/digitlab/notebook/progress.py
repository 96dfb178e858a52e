"""rich's progress bar drawn into one notebook output, updated in place.

rich's own Jupyter support draws a live bar into an ipywidgets ``Output`` widget: a saved notebook then
holds an ``Output()`` placeholder (GitHub renders no widgets) and an empty ``<pre>`` from rich's
cursor-control codes. Here each redraw replaces one display (``display_id``), so the saved notebook keeps
the bar's final state as plain HTML and text, and nothing else.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.progress import Progress

HTML_FORMAT = '<pre style="white-space:pre;overflow-x:auto;font-family:monospace">{code}</pre>'
WIDTH = 110


class Snapshot:
    """One drawing of a rich renderable as notebook output: styled HTML, and plain text without ANSI codes."""

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        console = Console(file=io.StringIO(), record=True, width=WIDTH, force_jupyter=False, force_terminal=True,
                          color_system="truecolor")
        console.print(self.renderable)
        return {"text/html": console.export_html(inline_styles=True, code_format=HTML_FORMAT, clear=False),
                "text/plain": console.export_text(styles=False)}


class NotebookProgress(Progress):
    """A ``rich.progress.Progress`` that redraws on every ``update`` into a single notebook display."""

    def __init__(self, *columns: Any, **kwargs: Any) -> None:
        kwargs.pop("transient", None)  # the final state is the record a saved notebook keeps
        super().__init__(*columns, auto_refresh=False, **kwargs)
        self._handle: Any = None

    def start(self) -> None:
        from IPython.display import display

        self._handle = display(Snapshot(self.make_tasks_table(self.tasks)), display_id=True)

    def refresh(self) -> None:
        if self._handle is not None:
            self._handle.update(Snapshot(self.make_tasks_table(self.tasks)))

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.refresh()

    def stop(self) -> None:
        self.refresh()
        self._handle = None

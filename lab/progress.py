"""Rich progress for long phases: a spinner with elapsed time whose line says what is happening now."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


@contextlib.contextmanager
def phase(title: str) -> Iterator[Callable[[str], None]]:
    """Show `title: <latest message>` with a spinner; print the outcome and duration when done."""
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[title]}[/]: {task.description}"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("starting", title=title)

        def report(message: str) -> None:
            progress.update(task, description=message)
            if not console.is_terminal:  # keep a plain log in CI and pipes
                print(f"[{title}] {message}", file=sys.stderr, flush=True)

        yield report
    console.print(f"[green]✓[/] {title} ({time.monotonic() - started:.1f} s)", highlight=False)

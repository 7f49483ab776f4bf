"""Which tasks the lists of a bigcode-evaluation-harness generations file answer.

The file carries no task ids: bigcode writes one list per task, in the dataset's order from the
first task it was given (``--limit_start``), and evalkit maps the lists to tasks by position. What
the programs define says whether that mapping is right: a HumanEval or MBPP program defines its
task's entry point. A file written from task 20 on was scored against tasks 0 to 9 (every program a
NameError, pass@1 0.000, exit 0, a new user's trial); checked here, it is refused before anything
runs. Nothing is executed: a regular expression reads the names a few programs of each list define.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

PROGRAMS_READ = 3
"""Programs of each list whose definitions are read: a list's programs answer one task."""

_DEFINED = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(|\bfunction\*?[ \t]*(\w+)[ \t]*\(",
                      re.MULTILINE)

EntryPoints = Sequence[tuple[str, str]]
"""(task_id, entry point) of every task of a dataset, in its order."""


def defined_names(generations: Any) -> set[str]:
    """The functions the first PROGRAMS_READ programs of one list define (Python's ``def``,
    JavaScript's ``function``); none for an entry that is not a list of strings."""
    if not isinstance(generations, list):
        return set()
    programs = [code for code in generations[:PROGRAMS_READ] if isinstance(code, str)]
    return {python or script for code in programs for python, script in _DEFINED.findall(code)}


def file_order(every: Sequence[str], selection: Sequence[str], lists: int) -> Sequence[str]:
    """The tasks of a file of ``lists`` lists, by position: the dataset's order (``every``), or the
    selection's where it is that many consecutive tasks of it, in order, fewer than all: the tasks
    bigcode's ``--limit_start S --limit N`` wrote, given as ``dataset.task_ids`` (one of fewer lists
    than the dataset names its tasks so; a selection of another size picks tasks out of the file)."""
    if not 0 < lists == len(selection) < len(every) or selection[0] not in every:
        return every
    start = every.index(selection[0])
    return selection if list(every[start:start + lists]) == list(selection) else every


def _lists(count: int, of: int) -> str:
    return f"its {of} generation lists" if count == of else f"{count} of its {of} generation lists"


def _span(ids: Sequence[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{ids[0]} to {ids[-1]}"


def misplaced_lists(path: Path, lists: Sequence[Any], order: Sequence[str], dataset: str, every: EntryPoints,
                    others: Callable[[], Iterable[tuple[str, EntryPoints]]]) -> str | None:
    """Why the lists of ``path`` are not the tasks ``order`` puts at their positions (one line naming
    the fix), or None. ``every``: the dataset's entry points; ``others``: those of the other datasets
    the file could be (asked only where few lists define the entry point of their task).

    The file is refused when most lists that define any function define the entry point of a task at
    another position, or of another dataset's task, and not their own: lists of empty answers, prose
    or a weak model's wrong code define no entry point and count for the mapping, so such a file is
    still scored."""
    defined = [defined_names(generations) for generations in lists[: len(order)]]
    defining = sum(1 for names in defined if names)
    entry = dict(every)
    own = [entry[order[i]] in names for i, names in enumerate(defined)]
    if sum(own) * 2 >= defining:
        return None
    place = {task_id: position for position, (task_id, _) in enumerate(every)}
    defined_at = collections.defaultdict(list)
    for position, (_, name) in enumerate(every):
        defined_at[name].append(position)
    shifts = {i: {other - place[order[i]] for name in names for other in defined_at.get(name, ())}
              for i, names in enumerate(defined) if not own[i]}
    shifts = {i: found for i, found in shifts.items() if found}
    shifted = len(shifts) * 2 > defining
    if shifted and (problem := _shifted(path, len(lists), order, every, shifts)):
        return problem  # bigcode's --limit_start, the likeliest: other datasets are not loaded
    for name, entry_points in others():
        names = {entry_point: task_id for task_id, entry_point in reversed(entry_points)}
        theirs = [(i, sorted(found & names.keys())) for i, found in enumerate(defined)
                  if found & names.keys() and not own[i]]
        if len(theirs) * 2 > defining:
            first, found = theirs[0]
            return (f"{path}: {_lists(len(theirs), len(lists))} define the entry points of dataset "
                    f"{name}'s tasks, not of {dataset}'s (list {first + 1} defines {found[0]}, "
                    f"{names[found[0]]}'s): add dataset={name}")
    if not shifted:
        return None
    first = min(shifts)
    theirs = every[place[order[first]] + min(shifts[first], key=abs)][0]
    return (f"{path}: {_lists(len(shifts), len(lists))} define the entry points of other tasks of {dataset} "
            f"than the ones at their positions (list {first + 1}, read as {order[first]}, defines "
            f"{theirs}'s): bigcode's generations must be in {dataset}'s task order, one list per task")


def _shifted(path: Path, total: int, order: Sequence[str], every: EntryPoints,
             shifts: dict[int, set[int]]) -> str | None:
    """The refusal of lists most of which define the entry points of the tasks a constant number of
    places on (bigcode's ``--limit_start``), naming the ``dataset.task_ids`` that maps them; None
    where no shift both explains most of them and keeps every list within the dataset."""
    shift, agreeing = collections.Counter(s for found in shifts.values() for s in found).most_common(1)[0]
    place = {task_id: position for position, (task_id, _) in enumerate(every)}
    count = min(total, len(order))
    wanted = [place[task_id] + shift for task_id in order[:count]]
    if agreeing * 2 <= len(shifts) or wanted[0] < 0 or wanted[-1] >= len(every):
        return None
    ids = [every[position][0] for position in wanted]
    hint = f" (bigcode's --limit_start {wanted[0]}?)" if wanted[0] > 0 else ""
    return (f"{path}: {_lists(agreeing, total)} define the entry points of {_span(ids)}, not of "
            f"{_span(order[:count])}{hint}: give dataset.task_ids=[{','.join(ids)}]")

"""The variables a template sees: what the gateway passes, built from a benchmark task.

The editor extension and Rails send the gateway the file content around the
cursor, the instruction they extracted, the language and the file name, plus a
"prompt enhancer" of examples, related code and libraries. A benchmark task is
mapped onto those as the IDE would send it for a file that holds the task's
prompt above the cursor and its suffix below.
"""

from __future__ import annotations

from typing import Any

from evalkit.records import Task

GENERATION_VARIABLES = (
    "prefix", "instruction", "user_instruction", "language", "file_name",
    "examples_array", "related_files", "related_snippets", "libraries",
    "trimmed_content_above_cursor", "trimmed_content_below_cursor",
)
"""What the gateway passes a code-generation template (the enhancer keys merged in)."""

COMPLETION_VARIABLES = ("prefix", "suffix", "language", "file_name")
"""What the gateway passes a code-completion (fill-in-the-middle) template."""

KNOWN_VARIABLES = {"generations": GENERATION_VARIABLES, "completions": COMPLETION_VARIABLES}
"""Every variable a template of each kind may use; render passes all of them."""

DEFAULT_INSTRUCTION = "Write the code that the comment above the cursor asks for."
"""``user_instruction`` when a task has none (the editor side always sends one)."""

LANGUAGE_NAMES = {
    "python": "Python", "javascript": "JavaScript", "typescript": "TypeScript", "go": "Go", "java": "Java",
    "ruby": "Ruby", "rust": "Rust", "c": "C", "cpp": "C++", "csharp": "C#", "php": "PHP", "kotlin": "Kotlin",
    "swift": "Swift", "scala": "Scala", "shell": "Shell", "sql": "SQL",
}
"""The editor side sends the language's display name ("Python"), not its identifier."""


def language_name(language: str) -> str | None:
    """The display name the editor side sends for a task's language (None when it has none)."""
    if not language:
        return None
    return LANGUAGE_NAMES.get(language.lower(), language[:1].upper() + language[1:])


def variables(task: Task, kind: str) -> dict[str, Any]:
    """Every variable a template of ``kind`` may use, for ``task``.

    The content above the cursor is the task's prompt, below it the task's
    suffix; the instruction is the task's (HumanEval's asks to complete the
    function its docstring describes). Lists the enhancer would fill (examples,
    related files and snippets, libraries) are empty: a benchmark task has none.
    """
    language = language_name(task.language)
    if kind == "completions":
        return {"prefix": task.prompt, "suffix": task.suffix, "language": language,
                "file_name": task.file_name}
    return {
        "prefix": task.prompt,
        "instruction": task.instruction or None,
        "user_instruction": task.instruction or DEFAULT_INSTRUCTION,
        "language": language,
        "file_name": task.file_name,
        "examples_array": [],
        "related_files": [],
        "related_snippets": [],
        "libraries": [],
        "trimmed_content_above_cursor": task.prompt,
        "trimmed_content_below_cursor": task.suffix,
    }

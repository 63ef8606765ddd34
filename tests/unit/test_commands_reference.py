"""docs/commands.md, the command reference generated from the command table: the
committed file must be what `make docs` writes now, and the generator must be
deterministic and readable as Markdown."""

from __future__ import annotations

import difflib
from itertools import islice
from pathlib import Path

import pytest

import redis_clone.commands  # noqa: F401  (fills the table)
from redis_clone.commanddocs import REFERENCE_PATH, markdown_reference
from redis_clone.registry import COMMANDS, CommandTable, command, container

REPOSITORY = Path(__file__).resolve().parents[2]


def test_committed_command_reference_matches_the_command_table():
    generated = markdown_reference(COMMANDS)
    path = REPOSITORY / REFERENCE_PATH
    committed = path.read_text() if path.exists() else ""
    if committed != generated:
        diff = difflib.unified_diff(committed.splitlines(keepends=True),
                                    generated.splitlines(keepends=True),
                                    f"{REFERENCE_PATH} (committed)", "generated from the table")
        pytest.fail(f"{REFERENCE_PATH} is out of date: run `make docs` and commit the result.\n"
                    + "".join(islice(diff, 60)))


def test_every_command_in_the_reference_has_a_syntax_line_and_a_summary():
    for spec in COMMANDS:
        for entry in (spec, *spec.subcommands.values()):
            assert entry.syntax and entry.summary, entry.name


def _handler(syntax: str):
    def handler(ctx, args):
        return None
    handler.__doc__ = syntax
    return handler


SPECS = {
    "zeta": dict(group="sorted-set", summary="Last command", complexity="O(N*M)+O(M*log(M))"),
    "alpha": dict(group="string", summary="First command",
                  differences="Replies <differently> than Redis"),
    "beta": dict(group="string", summary="Second command"),
}


def _table(names: list[str]) -> CommandTable:
    """A small table whose commands are registered in the order given ("box" is a
    container with two subcommands)."""
    table = CommandTable()
    for name in names:
        if name == "box":
            container("box", group="server", since="2.0.0", summary="A container", table=table)
            for sub in ("set", "get"):
                command(f"box|{sub}", arity=2, group="server", summary=f"Box {sub}",
                        table=table)(_handler(f"BOX {sub.upper()} key"))
        else:
            command(name, arity=2, table=table, **SPECS[name])(_handler(f"{name.upper()} key"))
    return table


def test_reference_sorts_groups_and_commands_whatever_the_registration_order():
    first = markdown_reference(_table(["zeta", "box", "beta", "alpha"]))
    second = markdown_reference(_table(["alpha", "beta", "box", "zeta"]))
    assert first == second
    headings = [line for line in first.splitlines() if line.startswith("## ")]
    assert headings == ["## Group: server", "## Group: sorted-set", "## Group: string"]
    commands = [line for line in first.splitlines() if line.startswith("### ")]
    assert commands == ["### BOX", "### BOX GET", "### BOX SET", "### ZETA", "### ALPHA", "### BETA"]


def test_reference_entry_shows_syntax_summary_complexity_and_differences():
    text = markdown_reference(_table(["alpha"]))
    entry = text[text.index("### ALPHA"):]
    assert entry.splitlines()[:7] == [
        "### ALPHA", "", "`ALPHA key`", "", "First command", "", "- Complexity: O(1)"]
    assert "- **Differs from Redis:** Replies \\<differently\\> than Redis" in entry
    assert "Known differences from Redis: [ALPHA](#alpha)." in text


def test_reference_escapes_markdown_in_plain_text_fields():
    # Two stars in one line would otherwise render the text between them in italics.
    text = markdown_reference(_table(["zeta"]))
    assert "- Complexity: O(N\\*M)+O(M\\*log(M))" in text


def test_reference_links_each_group_and_subcommand_to_its_heading_anchor():
    text = markdown_reference(_table(["box", "zeta"]))
    assert "| [sorted-set](#group-sorted-set) | [ZETA](#zeta) |" in text
    assert "| [server](#group-server) | [BOX](#box) |" in text
    assert "2 commands and 2 subcommands in 2 groups." in text

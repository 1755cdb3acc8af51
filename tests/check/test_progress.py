"""The progress display: loud on a terminal outside CI, silent on a pipe or in CI."""

from __future__ import annotations

import io

from specfake.contracts.harness import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_loud_only_on_a_terminal_outside_ci() -> None:
    assert progress.wanted(Terminal(), {})
    assert progress.wanted(Terminal(), {"CI": ""})
    assert not progress.wanted(Terminal(), {"CI": "true"})
    assert not progress.wanted(Terminal(), {"CI": "1"})
    assert not progress.wanted(io.StringIO(), {})  # a pipe or a file


def test_display_draws_or_keeps_quiet() -> None:
    for stream, env, loud in (
        (Terminal(), {}, True),
        (Terminal(), {"CI": "true"}, False),
        (io.StringIO(), {}, False),
    ):
        with progress.display(stream, env) as shown:
            assert progress.current() is shown
            shown.phase("schemathesis")
            shown.operation("GET /v4/evaluations")
        assert progress.current() is not shown  # back to the silent default
        assert bool(stream.getvalue()) is loud
        if loud:
            assert "GET /v4/evaluations" in stream.getvalue() and stream.getvalue().endswith("\n")

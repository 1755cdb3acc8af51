"""Options: typed once, one failure policy (an error naming the option), at start-up and at run time."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from specfake.app import create_app
from specfake.behaviours.humanloop.options import HumanloopOptions
from specfake.options import OptionError, Options
from specfake.streaming.faults import StreamFaults


def test_texts_become_typed_values_and_are_kept_as_given() -> None:
    given = {"evaluation_pace": "2.5", "stream_faults": "cut-after=3", "stream_speed": ""}
    options = HumanloopOptions.parse(given)
    assert options.evaluation_pace == 2.5 and options.stream_speed == 1.0
    assert options.stream_faults == StreamFaults(cut_after=3)
    assert options.given == {"evaluation_pace": "2.5", "stream_faults": "cut-after=3"}


@pytest.mark.parametrize(
    ("values", "named", "words"),
    [
        ({"evaluation_pace": "soon"}, "evaluation_pace", "seconds"),
        ({"evaluation_pace": "-1"}, "evaluation_pace", ">= 0"),
        ({"evaluation_hold": "paused"}, "evaluation_hold", "'pending', 'running'"),
        ({"stream_faults": "cut-after=x"}, "stream_faults", "whole number"),
        ({"evaluation_paze": "1"}, "evaluation_paze", "unknown option"),
    ],
)
def test_a_bad_option_is_refused_naming_it(values: dict[str, str], named: str, words: str) -> None:
    with pytest.raises(OptionError) as caught:
        HumanloopOptions.parse(values)
    assert caught.value.name == named and words in str(caught.value) and str(caught.value).startswith(named)


def test_changes_unset_with_an_empty_text_and_start_up_only_options_stay(tmp_path: object) -> None:
    options = Options.parse({"stream_speed": "0", "stream_faults": "error-at=2"})
    changed = options.changed({"stream_faults": ""})
    assert changed.stream_faults is None and changed.given == {"stream_speed": "0"}
    assert options.stream_faults is not None  # frozen: the old object is untouched
    with pytest.raises(OptionError, match="streams_dir: can only be set at start-up"):
        options.changed({"streams_dir": str(tmp_path)})


def test_every_served_contract_takes_the_options_it_knows_and_none_is_unknown() -> None:
    app = create_app(["humanloop", "sgp"], options={"evaluation_pace": "3", "sgp_archived_reads": "visible"})
    assert app.api("humanloop").options.evaluation_pace == 3.0  # type: ignore[attr-defined]
    assert app.api("sgp").options.given == {"sgp_archived_reads": "visible"}
    with pytest.raises(OptionError, match="sgp_archived_reads"):
        create_app(["humanloop"], options={"sgp_archived_reads": "visible"})  # not served: unknown


def test_the_admin_api_refuses_a_bad_change_and_keeps_the_options() -> None:
    app = create_app(["humanloop"], options={"evaluation_pace": "1"})
    with TestClient(app) as client:
        url = "/__admin/options?contract=humanloop"
        bad = client.put(url, json={"evaluation_pace": "1", "evaluation_hold": "frozen"})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("evaluation_hold:")
        assert client.get(url).json() == {"evaluation_pace": "1"}  # all or nothing
        assert client.put(url, json={"evaluation_hold": "running"}).json() == {
            "evaluation_pace": "1",
            "evaluation_hold": "running",
        }
    assert app.api("humanloop").options.evaluation_hold == "running"  # type: ignore[attr-defined]

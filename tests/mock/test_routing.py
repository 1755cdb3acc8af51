from __future__ import annotations

from specfake.routing import Router


def router() -> Router[str]:
    r: Router[str] = Router()
    r.add("/model-configs/{id}", "GET", "get")
    r.add("/model-configs/serialize", "POST", "serialize")
    r.add("/projects/{id}/configs", "GET", "configs")
    r.add("/projects/{project_id}/datasets", "POST", "datasets")
    return r


def test_literal_beats_parameter_and_params_are_named_per_branch() -> None:
    r = router()
    assert r.match("/model-configs/serialize", "POST").target == "serialize"
    assert r.match("/model-configs/serialize", "GET").params == {"id": "serialize"}
    assert r.match("/projects/p1/configs", "GET").params == {"id": "p1"}
    assert r.match("/projects/p1/datasets", "POST").params == {"project_id": "p1"}


def test_wrong_method_lists_the_most_specific_templates_methods() -> None:
    match = router().match("/model-configs/serialize", "PUT")
    assert match is not None and match.target is None and match.allowed == ("POST",)


def test_unknown_and_empty_segments_do_not_match() -> None:
    r = router()
    assert r.match("/nowhere", "GET") is None
    assert r.match("/projects//configs", "GET") is None

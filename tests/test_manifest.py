import json

import pytest

from hxbench.errors import ManifestError
from hxbench.io.manifest import Expected, Sample, load_manifest, write_manifest


def test_roundtrip_and_revision(tmp_path):
    m = write_manifest(tmp_path / "m.jsonl", [
        Sample("a", reference_image="img/a.png", expected=Expected(fps=25, duration=1.0)),
        Sample("b", question="What is 2+2?", answers=["4", "four"], expected=Expected(kind="text")),
    ])
    loaded = load_manifest(m.path)
    assert [s.sample_id for s in loaded.samples] == ["a", "b"]
    assert loaded.samples[0].expected.fps == 25
    assert loaded.samples[1].answers == ["4", "four"]
    assert loaded.resolve("img/a.png") == tmp_path / "img/a.png"
    rev = loaded.revision
    m.path.write_text(m.path.read_text().replace("2+2", "3+3"))
    assert load_manifest(m.path).revision != rev


@pytest.mark.parametrize("lines, message", [
    (['{"sample_id": "a"}', '{"sample_id": "a"}'], "duplicate sample_id"),
    (['{"sample_id": "a", "colour": 1}'], "unknown field"),
    (['{"sample_id": ""}'], "non-empty string"),
    (['{"sample_id": "../x"}'], "must not contain"),
    (['{"sample_id": "a", "expected": {"fpz": 25}}'], "unknown expected field"),
    (['not json'], "invalid JSON"),
    ([''], "no samples"),
])
def test_malformed_manifests_are_rejected(tmp_path, lines, message):
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_group_name_sample_ids(tmp_path):
    """MoChaBench's <category>/<context_id> ids: one folder part, nothing that leaves the folder."""
    from hxbench.io.manifest import Sample, valid_sample_id

    assert valid_sample_id("1p_emotion/11_woman_cat") and valid_sample_id("plain")
    for bad in ("a/b/c", "a/.b", "../x", "a/", "/a", "a\\b", ".a"):
        assert not valid_sample_id(bad), bad
    s = Sample.from_dict({"sample_id": "1p_emotion/11_woman_cat", "expected": {"duration_tolerance": 0.5}})
    assert s.group == "1p_emotion" and s.to_dict()["expected"]["duration_tolerance"] == 0.5
    assert "duration_tolerance" not in Sample.from_dict({"sample_id": "a"}).to_dict()["expected"]

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

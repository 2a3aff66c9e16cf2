"""Real-dataset loaders on small files in the official formats."""

import json

import pytest

from hxbench.io.datasets import (DatasetError, celebv_hq, cyberhost_list, llama_questions, triviaqa,
                              web_questions, write)
from hxbench.io.manifest import load_manifest


def test_celebv_hq(tmp_path):
    vids = tmp_path / "35666"
    vids.mkdir()
    (vids / "-0a5ZrHM4Lw_0.mp4").write_bytes(b"x")
    info = {"meta_info": {"appearance_mapping": [], "action_mapping": [], "emotion_mapping": []},
            "clips": {"-0a5ZrHM4Lw_0": {"ytb_id": "-0a5ZrHM4Lw", "duration": {"start_sec": 1.2, "end_sec": 5.7},
                                        "bbox": {"top": 0.1, "bottom": 0.6, "left": 0.3, "right": 0.7},
                                        "attributes": {"emotion": {"sep_flag": False, "labels": "neutral"}},
                                        "version": "v0.1"}}}
    path = tmp_path / "celebvhq_info.json"
    path.write_text(json.dumps(info))
    samples = celebv_hq(path, vids, relative_to=tmp_path)
    assert len(samples) == 1
    s = samples[0]
    assert s.sample_id == "-0a5ZrHM4Lw_0" and s.reference_video == "35666/-0a5ZrHM4Lw_0.mp4"
    assert s.expected.duration == pytest.approx(4.5) and s.meta["bbox"]["right"] == 0.7
    m = write(samples, tmp_path / "celebv.jsonl")
    assert load_manifest(m.path).samples[0].meta["ytb_id"] == "-0a5ZrHM4Lw"
    (vids / "-0a5ZrHM4Lw_0.mp4").unlink()
    with pytest.raises(DatasetError, match="not found"):
        celebv_hq(path, vids)
    info["clips"]["-0a5ZrHM4Lw_0"]["duration"] = {"start_sec": 1.0}
    path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="end_sec"):
        celebv_hq(path, vids, require_videos=False)
    path.write_text("{not json")
    with pytest.raises(DatasetError, match="invalid JSON"):
        celebv_hq(path, vids)


def test_cyberhost_list(tmp_path):
    for name in ("a.png", "a.wav", "b.png", "b.wav", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    lst = tmp_path / "test.txt"
    lst.write_text("# id image audio [video]\nclip_a a.png a.wav\nclip_b,b.png,b.wav,b.mp4\n")
    s = cyberhost_list(lst)
    assert [x.sample_id for x in s] == ["clip_a", "clip_b"]
    assert s[1].reference_video.endswith("b.mp4") and s[0].reference_video is None
    lst.write_text("clip_a a.png\n")
    with pytest.raises(DatasetError, match=r"test.txt:1: expected"):
        cyberhost_list(lst)
    lst.write_text("clip_c c.png a.wav\n")
    with pytest.raises(DatasetError, match="c.png not found"):
        cyberhost_list(lst)


def test_triviaqa(tmp_path):
    data = {"Data": [{"QuestionId": "tc_1", "Question": "Which planet is largest?",
                      "Answer": {"Value": "Jupiter", "NormalizedValue": "jupiter",
                                 "Aliases": ["Jupiter", "Planet Jupiter"],
                                 "NormalizedAliases": ["jupiter", "planet jupiter"]}}],
            "Domain": "Web", "Version": 1.0}
    p = tmp_path / "verified-web-dev.json"
    p.write_text(json.dumps(data))
    s = triviaqa(p)[0]
    assert s.sample_id == "tc_1" and s.answers == ["Jupiter", "Planet Jupiter"]
    assert s.meta["normalized_aliases"] == ["jupiter", "planet jupiter"]
    p.write_text(json.dumps({"Data": [{"Question": "x"}]}))
    with pytest.raises(DatasetError, match=r"Data\[0\]"):
        triviaqa(p)
    with pytest.raises(DatasetError, match="not found"):
        triviaqa(tmp_path / "missing.json")


def test_web_questions(tmp_path):
    data = [{"url": "http://www.freebase.com/view/en/justin_bieber",
             "targetValue": "(list (description \"Jazmyn Bieber\") (description \"Jaxon Bieber\"))",
             "utterance": "what is the name of justin bieber brother?"},
            {"url": "u", "targetValue": "(list (description Spanish))", "utterance": "what language?"}]
    p = tmp_path / "webquestions.examples.test.json"
    p.write_text(json.dumps(data))
    s = web_questions(p)
    assert s[0].answers == ["Jazmyn Bieber", "Jaxon Bieber"] and s[1].answers == ["Spanish"]
    p.write_text(json.dumps([{"utterance": "q", "targetValue": "(list)"}]))
    with pytest.raises(DatasetError, match="no \\(description"):
        web_questions(p)


def test_llama_questions(tmp_path):
    p = tmp_path / "llama_questions.jsonl"
    p.write_text('{"question": "What colour is the sky?", "answer": "blue"}\n'
                 '{"question": "Two plus two?", "answers": ["four", "4"]}\n')
    s = llama_questions(p)
    assert s[0].answers == ["blue"] and s[1].answers == ["four", "4"]
    p.write_text('{"question": "x"}\n')
    with pytest.raises(DatasetError, match="no 'answer'"):
        llama_questions(p)

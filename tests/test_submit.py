"""Submissions: every bad submission gets a clear error before anything is scored or
extracted; bundles verify, and any tampering makes verify fail."""

from __future__ import annotations

import io
import json
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from hxbench.cli import main
from hxbench.board.testing import make_outputs, make_task_data
from hxbench.board.archive import ArchiveLimits, check_archive, safe_extract
from hxbench.board.bundle import verify_bundle
from hxbench.errors import SubmissionError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("submit")
    manifest = make_task_data(root / "data", n=4)
    good = make_outputs(manifest, root / "good", noise=4, seed=1)
    (root / "card.yaml").write_text("name: tiny-model\ndescription: test entry\nurl: https://example.org\n")
    return root, manifest, good


@pytest.fixture(scope="module")
def bundle(data):
    root, manifest, good = data
    out = root / "bundle"
    rc = main(["submit", "--manifest", str(manifest.path), "--outputs", str(good), "--model-card",
               str(root / "card.yaml"), "--out", str(out), "--metrics", "ssim", "psnr"])
    assert rc == 0
    return out


def submit(data, outputs, capsys, extra=()):
    root, manifest, _ = data
    rc = main(["submit", "--manifest", str(manifest.path), "--outputs", str(outputs), "--model-card",
               str(root / "card.yaml"), "--out", str(root / "never"), "--metrics", "ssim", *extra])
    text = capsys.readouterr().out
    assert not (root / "never" / "results.json").exists()  # nothing was scored
    return rc, text


def copy_outputs(data, dest: Path) -> Path:
    shutil.copytree(data[2], dest)
    return dest


def test_missing_sample(data, tmp_path, capsys):
    out = copy_outputs(data, tmp_path / "o")
    (out / "s02.mp4").unlink()
    rc, text = submit(data, out, capsys)
    assert rc == 1
    assert "[missing] sample 's02': expected output s02.mp4 is missing" in text


def test_duplicate_sample_in_folder_and_archive(data, tmp_path, capsys):
    out = copy_outputs(data, tmp_path / "o")
    shutil.copy(out / "s01.mp4", out / "s01.mov")
    rc, text = submit(data, out, capsys)
    assert rc == 1 and "[duplicate] sample 's01': 2 outputs: s01.mov, s01.mp4" in text
    # the same member name twice in a zip
    z = tmp_path / "dup.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(data[2].iterdir()):
            zf.write(p, p.name)
        with pytest.warns(UserWarning):
            zf.write(data[2] / "s00.mp4", "s00.mp4")
    rc, text = submit(data, z, capsys)
    assert rc == 1 and "member 's00.mp4' appears more than once" in text


def test_wrong_fps(data, tmp_path, capsys):
    out = copy_outputs(data, tmp_path / "o")
    from hxbench.io.manifest import Manifest

    m = data[1]
    make_outputs(Manifest(m.path, [m.samples[3]]), out, noise=4, fps=30)
    rc, text = submit(data, out, capsys)
    assert rc == 1
    assert "[fps] sample 's03': s03.mp4 is 30.000 fps, expected 25" in text


def test_zip_with_parent_member_is_refused_before_extraction(data, tmp_path, capsys):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(data[2].iterdir()):
            zf.write(p, p.name)
        zf.writestr("../escaped.mp4", b"x" * 100)
        zf.writestr("/abs.mp4", b"x")
    with pytest.raises(SubmissionError) as err:
        check_archive(z)
    msg = str(err.value)
    assert "member '../escaped.mp4' escapes the extraction folder ('..' path traversal)" in msg
    assert "member '/abs.mp4' has an absolute path" in msg
    dest = tmp_path / "x" / "dest"
    with pytest.raises(SubmissionError):
        safe_extract(z, dest)
    assert not (tmp_path / "x" / "escaped.mp4").exists() and not dest.exists()  # nothing extracted
    rc, text = submit(data, z, capsys)
    assert rc == 1 and "path traversal" in text


def test_zip_bomb_is_refused_from_headers(data, tmp_path, capsys, monkeypatch):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("s00.mp4", b"\0" * (40 * 1024 * 1024))  # 40 MB of zeros -> ~40 kB
    assert z.stat().st_size < 200_000
    with pytest.raises(SubmissionError, match=r"compresses \d+:1 \(limit 200:1\): refused as a possible zip bomb"):
        check_archive(z)
    # the total-size limit, from the environment (as the CLI reads it)
    monkeypatch.setenv("HXBENCH_MAX_TOTAL_BYTES", str(10 * 1024 * 1024))
    monkeypatch.setenv("HXBENCH_MAX_RATIO", "1e9")
    rc, text = submit(data, z, capsys)
    assert rc == 1
    assert "archive would be 41943040 bytes uncompressed, over the limit 10485760 (zip bomb protection)" in text
    with pytest.raises(SubmissionError, match="per-file limit"):
        check_archive(z, ArchiveLimits(max_member_bytes=1024, max_ratio=1e9))
    with pytest.raises(SubmissionError, match="more than the limit 0"):
        check_archive(z, ArchiveLimits(max_members=0, max_ratio=1e9))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_lying_zip_header_is_a_one_line_refusal(data, tmp_path, capsys, compression):
    """The central directory declares 100 bytes for a 5000-byte member: refused in one line
    (no traceback), and nothing of it is left on disk."""
    z = tmp_path / "liar.zip"
    with zipfile.ZipFile(z, "w", compression=compression) as zf:
        zf.writestr("s00.mp4", bytes(range(256)) * 20)
    raw = bytearray(z.read_bytes())
    # shrink the declared uncompressed size in the central directory (offset 24 from its signature)
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = (100).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    with pytest.raises(SubmissionError, match="member 's00.mp4' does not match its header"):
        safe_extract(z, tmp_path / "d")
    assert not (tmp_path / "d" / "s00.mp4").exists()
    rc, text = submit(data, z, capsys)
    assert rc == 1 and "does not match its header" in text and "Traceback" not in text


def test_every_members_ratio_and_the_total_are_bounded(tmp_path):
    """Many small members, each under 1 MiB, each 500:1: every one is refused by its ratio,
    and their total by the total limit, before anything is written."""
    z = tmp_path / "many.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(20):
            zf.writestr(f"s{i:02d}.mp4", b"\0" * 500_000)
    with pytest.raises(SubmissionError) as err:
        safe_extract(z, tmp_path / "d", ArchiveLimits(max_total_bytes=5_000_000))
    msg = str(err.value)
    assert all(f"member 's{i:02d}.mp4' compresses" in msg for i in range(20))
    assert "archive would be 10000000 bytes uncompressed, over the limit 5000000" in msg
    assert not (tmp_path / "d").exists()


def test_symlink_members_are_refused(data, tmp_path, capsys):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("s00.mp4")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(SubmissionError, match=r"member 's00.mp4' is a symbolic link \(not allowed\)"):
        check_archive(z)
    t = tmp_path / "link.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        ti = tarfile.TarInfo("s01.mp4")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../../secret"
        tf.addfile(ti)
        ti = tarfile.TarInfo("s02.mp4")
        ti.type = tarfile.LNKTYPE
        ti.linkname = "s01.mp4"
        tf.addfile(ti)
        dev = tarfile.TarInfo("dev")
        dev.type = tarfile.CHRTYPE
        tf.addfile(dev)
    with pytest.raises(SubmissionError) as err:
        check_archive(t)
    assert "member 's01.mp4' is a symbolic link" in str(err.value)
    assert "member 's02.mp4' is a hard link" in str(err.value)
    assert "member 'dev' is not a regular file" in str(err.value)
    rc, text = submit(data, z, capsys)
    assert rc == 1 and "symbolic link" in text


def test_valid_archive_in_a_folder_validates(data, tmp_path, capsys):
    t = tmp_path / "sub.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        tf.add(data[2], arcname="my_outputs")
    root, manifest, _ = data
    rc = main(["submit", "--manifest", str(manifest.path), "--outputs", str(t), "--model-card",
               str(root / "card.yaml"), "--out", str(tmp_path / "b"), "--metrics", "ssim", "--validate-only"])
    assert rc == 0 and "submission valid: 4 samples" in capsys.readouterr().out


def test_bad_model_card(data, tmp_path, capsys):
    root, manifest, good = data
    card = tmp_path / "card.yaml"
    card.write_text("description: no name\nfavourite_colour: blue\n")
    rc = main(["submit", "--manifest", str(manifest.path), "--outputs", str(good), "--model-card", str(card),
               "--out", str(tmp_path / "b"), "--metrics", "ssim"])
    err = capsys.readouterr().err
    assert rc == 2 and "missing required key 'name'" in err and "unknown key(s) ['favourite_colour']" in err


def test_bundle_contents_and_verify(bundle, capsys):
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert names == {"bundle.json", "results.json", "samples.jsonl", "manifest.jsonl", "model_card.yaml"}
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["metrics"]["ssim[rgb-255]"] == {"metric": "ssim", "variant": "rgb-255", "version": "1", "weights": {}}
    assert meta["model"] == "tiny-model" and len(meta["integrity_sha256"]) == 64 and meta["signature"] is None
    assert main(["verify", str(bundle)]) == 0
    assert "verified" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", ["value", "added", "removed", "meta"])
def test_tampered_bundle_fails_verify(bundle, tmp_path, capsys, tamper):
    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    if tamper == "value":  # improve one per-sample number
        lines = (b / "samples.jsonl").read_text().splitlines()
        rec = json.loads(lines[0])
        out = next(iter(rec["values"]))
        rec["values"][out] += 0.01
        lines[0] = json.dumps(rec, sort_keys=True)
        (b / "samples.jsonl").write_text("\n".join(lines) + "\n")
        expect = "samples.jsonl was modified"
    elif tamper == "added":
        (b / "extra.txt").write_text("hi")
        expect = "extra.txt is not in the bundle's file listing"
    elif tamper == "removed":
        (b / "model_card.yaml").unlink()
        expect = "model_card.yaml is listed but missing"
    else:  # edit bundle.json's claims without recomputing the hash
        meta = json.loads((b / "bundle.json").read_text())
        meta["model"] = "someone-else"
        (b / "bundle.json").write_text(json.dumps(meta))
        expect = "integrity hash mismatch"
    assert main(["verify", str(b)]) == 1
    out = capsys.readouterr().out
    assert expect in out and "verification FAILED" in out


def test_hmac_signature(data, bundle, tmp_path, monkeypatch, capsys):
    import hashlib

    from hxbench.board.bundle import canonical_bytes, write_bundle

    root, manifest, _ = data
    monkeypatch.setenv("HXBENCH_SIGNING_KEY", "board-secret")
    b = tmp_path / "signed"
    import yaml

    write_bundle(bundle, b, manifest.path, yaml.safe_load((bundle / "model_card.yaml").read_text()))
    rep = verify_bundle(b, require_signature=True)
    assert rep.ok and rep.signature_checked
    # an attacker edits a number and recomputes the listing and integrity hash, but has no key
    lines = (b / "results.json").read_text().replace('"n_samples": 4', '"n_samples": 5')
    (b / "results.json").write_text(lines)
    meta = json.loads((b / "bundle.json").read_text())
    for f in meta["files"]:
        p = b / f["path"]
        f["sha256"], f["size"] = hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size
    meta["integrity_sha256"] = hashlib.sha256(canonical_bytes(meta)).hexdigest()
    (b / "bundle.json").write_text(json.dumps(meta))
    rep = verify_bundle(b)
    assert rep.problems == ["HMAC signature does not match: the bundle was changed after signing"]
    monkeypatch.setenv("HXBENCH_SIGNING_KEY", "another-key")
    assert any("signed with another key" in p for p in verify_bundle(b).problems)
    monkeypatch.delenv("HXBENCH_SIGNING_KEY")
    rep = verify_bundle(b, require_signature=True)
    assert "signature not checked" in rep.notes[0] and not rep.ok
    assert verify_bundle(b).ok  # integrity alone cannot detect the re-hashed edit (documented)


def test_consistency_check_catches_rehashed_results_edit(data, bundle, tmp_path):
    import yaml

    from hxbench.board.bundle import write_bundle

    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    res = json.loads((b / "results.json").read_text())
    res["metrics"]["ssim[rgb-255]"]["outputs"]["ssim"]["value"] += 0.05
    (b / "results.json").write_text(json.dumps(res))
    write_bundle(b, b, data[1].path, yaml.safe_load((b / "model_card.yaml").read_text()))  # re-hash
    rep = verify_bundle(b)
    assert len(rep.problems) == 1 and rep.problems[0].startswith("ssim[rgb-255].ssim: results.json says")


def test_rescore(data, bundle, tmp_path, capsys):
    root, manifest, good = data
    assert main(["verify", str(bundle), "--rescore", "--outputs", str(good), "--manifest", str(manifest.path),
                 "--n", "2", "--seed", "0"]) == 0
    assert "rescored 2 samples: match" in capsys.readouterr().out
    other = make_outputs(manifest, tmp_path / "other", noise=12, seed=5)
    assert main(["verify", str(bundle), "--rescore", "--outputs", str(other), "--manifest", str(manifest.path),
                 "--n", "1", "--seed", "0"]) == 1
    out = capsys.readouterr().out
    assert "output file differs from the one scored in the bundle" in out and "rescoring FAILED" in out

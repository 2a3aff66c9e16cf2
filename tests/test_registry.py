import sys

import pytest

from hxbench.registry import METRICS, Registry, UnknownNameError


def test_register_and_get():
    reg = Registry("thing")

    @reg.register("alpha")
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha
    assert "alpha" in reg
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("alpha", object())


def test_unknown_name_suggests_close_names():
    reg = Registry("metric")
    reg.add("ssim", 1)
    reg.add("psnr", 2)
    with pytest.raises(UnknownNameError) as err:
        reg.get("ssmi")
    assert "did you mean: ssim" in str(err.value)
    assert "hxbench ls metrics" in str(err.value)


def test_builtin_metrics_are_registered():
    names = METRICS.names()
    assert "ssim" in names and "psnr" in names


def test_entry_point_plugin_is_loaded(tmp_path, monkeypatch):
    """A package declares a module in the ``hxbench.plugins`` entry-point group: hxbench imports
    it and its model is registered; a module that is also a default plug-in is listed once."""
    from importlib import metadata

    from hxbench import registry
    from hxbench.registry import MODELS

    (tmp_path / "hxbench_fake_plugin.py").write_text(
        "from hxbench.adapters.base import Adapter, register_model\n"
        "@register_model('fake-plugin-model')\n"
        "class FakeModel(Adapter):\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [metadata.EntryPoint("fake", "hxbench_fake_plugin", registry.PLUGIN_GROUP),
           metadata.EntryPoint("omni", "reference_models.omnihuman.adapter", registry.PLUGIN_GROUP)]
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group=None: [e for e in eps if e.group == group])
    MODELS.names()  # the default plug-ins, before the fake entry points are seen
    monkeypatch.setattr(MODELS, "_entries", dict(MODELS._entries))
    monkeypatch.setattr(registry, "_loaded", False)
    assert registry.plugin_modules().count("reference_models.omnihuman.adapter") == 1
    assert registry.plugin_modules()[-1] == "hxbench_fake_plugin"
    assert "fake-plugin-model" in MODELS
    import hxbench_fake_plugin

    assert MODELS.get("fake-plugin-model") is hxbench_fake_plugin.FakeModel
    assert "omnihuman-tiny" in MODELS and "humanexpert-tiny" in MODELS
    monkeypatch.delitem(sys.modules, "hxbench_fake_plugin")


def test_missing_plugin_module_is_skipped(monkeypatch):
    from importlib import metadata

    from hxbench import registry

    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [
        metadata.EntryPoint("gone", "hxbench_no_such_plugin.adapter", registry.PLUGIN_GROUP)])
    monkeypatch.setattr(registry, "_loaded", False)
    registry.load_plugins()


def test_ceiling_rows_are_registered_apart_from_models(monkeypatch, capsys):
    """A ceiling row (made from the ground truth) is not a model: ``load_adapter`` never finds it,
    ``hxbench ls ceilings`` lists it; the OmniHuman plug-in registers ``vae-recon``."""
    from hxbench.adapters.base import load_adapter, register_ceiling
    from hxbench.cli import main
    from hxbench.registry import CEILINGS, MODELS

    assert "vae-recon" in CEILINGS and "vae-recon" not in MODELS
    monkeypatch.setattr(CEILINGS, "_entries", dict(CEILINGS._entries))

    @register_ceiling("test-ceiling")
    def write(manifest_path, outputs):
        """Ground truth, copied."""
        return {}

    with pytest.raises(ValueError, match="registered twice"):
        register_ceiling("test-ceiling")(lambda m, o: {})
    with pytest.raises(UnknownNameError, match="unknown model 'test-ceiling'"):
        load_adapter("test-ceiling")
    assert main(["ls", "ceilings"]) == 0
    out = capsys.readouterr().out
    assert "test-ceiling             Ground truth, copied." in out and "vae-recon" in out

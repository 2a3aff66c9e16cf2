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

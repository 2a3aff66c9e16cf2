"""HumanExpert-style mixture-of-transformers reference model (see README.md)."""

from reference_models.humanexpert.model import (  # noqa: F401
    CONFIGS,
    HumanExpert,
    HumanExpertConfig,
    get_config,
    hybrid_mask,
    load_checkpoint,
    save_checkpoint,
)

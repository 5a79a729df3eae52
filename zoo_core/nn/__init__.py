"""Reusable module helpers every kind shares: counting, data configs, pooled
features (:mod:`~zoo_core.nn.modules`), and backbone stages with freezing
(:mod:`~zoo_core.nn.stages`), which transfer learning and segmentation
encoders both use. Imports torch."""

from zoo_core.nn.modules import add_input_dropout, count_params, data_config, pooled_features
from zoo_core.nn.stages import StageMap, freeze_stages, set_stage_modes

__all__ = ["StageMap", "add_input_dropout", "count_params", "data_config", "freeze_stages",
           "pooled_features", "set_stage_modes"]

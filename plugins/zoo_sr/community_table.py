"""The community SR architectures zoo registers through spandrel. No torch here.

Each row names the spandrel architecture (its detection id, which is also the
name ``spandrel.architectures.<id>`` exports its model class under),
which keyword arguments of the class carry our uniform cfg keys ``scale`` and
``in_chans``, and the arguments a randomly initialised model gets (the
published main model's, where the class's own defaults do not build an SR
model). Published weights do not need any of this: spandrel reads the
hyperparameters from the state dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ArchSpec:
    name: str            # our registry name
    arch_id: str         # spandrel's Architecture.id, also its model class's public name
    scale_kw: str
    in_kw: str | None    # None: the class is RGB-only
    out_kw: str | None
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


_SWIN = {"window_size": 8, "embed_dim": 180, "depths": [6] * 6, "num_heads": [6] * 6,
         "mlp_ratio": 2.0, "upsampler": "pixelshuffle", "resi_connection": "1conv"}

SPECS: tuple[ArchSpec, ...] = (
    ArchSpec("esrgan", "ESRGAN", "scale", "in_nc", "out_nc",
             "ESRGAN's RRDBNet (Wang et al., 2018): ESRGAN, Real-ESRGAN x4plus/x2plus, BSRGAN "
             "weights (spandrel)"),
    ArchSpec("realesrgan_compact", "Compact", "upscale", "num_in_ch", "num_out_ch",
             "Real-ESRGAN's SRVGGNetCompact (realesr-general-x4v3, animevideov3) (spandrel)"),
    ArchSpec("swinir", "SwinIR", "upscale", "in_chans",
             None, "SwinIR (Liang et al., 2021), classical/lightweight/real-world SR (spandrel)",
             dict(_SWIN)),
    ArchSpec("swin2sr", "Swin2SR", "upscale",
             "in_chans", None, "Swin2SR (Conde et al., 2022) (spandrel)", dict(_SWIN)),
    ArchSpec("hat", "HAT", "upscale", "in_chans", None,
             "HAT, Hybrid Attention Transformer (Chen et al., 2023) (spandrel)",
             {**_SWIN, "window_size": 16}),
    ArchSpec("dat", "DAT", "upscale", "in_chans", None,
             "DAT, Dual Aggregation Transformer (Chen et al., 2023) (spandrel)",
             {"embed_dim": 180, "split_size": [8, 32], "depth": [6] * 6, "num_heads": [6] * 6,
              "expansion_factor": 2.0}),
    ArchSpec("rgt", "RGT", "upscale", "in_chans", None,
             "RGT, Recursive Generalization Transformer (Chen et al., 2024) (spandrel)",
             {"embed_dim": 180, "depth": [6] * 6, "num_heads": [6] * 6, "mlp_ratio": 2.0,
              "split_size": [8, 32]}),
    ArchSpec("drct", "DRCT", "upscale", "in_chans", None,
             "DRCT, Dense-residual-connected Transformer (Hsu et al., 2024) (spandrel)",
             {"window_size": 16, "upsampler": "pixelshuffle"}),
    ArchSpec("atd", "ATD", "upscale", "in_chans", None,
             "ATD, Adaptive Token Dictionary (Zhang et al., 2024) (spandrel)",
             {"embed_dim": 210, "window_size": 16, "num_tokens": 128, "reducted_dim": 20,
              "upsampler": "pixelshuffle"}),
    ArchSpec("craft", "CRAFT", "upscale", "in_chans", None,
             "CRAFT, lightweight cross-refinement transformer (Li et al., 2023) (spandrel)"),
    ArchSpec("omnisr", "OmniSR", "up_scale", "num_in_ch",
             "num_out_ch", "Omni-SR, lightweight omni aggregation (Wang et al., 2023) (spandrel)",
             {"block_num": 1, "res_num": 5}),
    ArchSpec("span", "SPAN", "upscale", "num_in_ch",
             "num_out_ch", "SPAN, swift parameter-free attention (Wan et al., 2024) (spandrel)",
             {"num_in_ch": 3, "num_out_ch": 3}),
    ArchSpec("safmn", "SAFMN", "upscaling_factor", None,
             None, "SAFMN, spatially-adaptive feature modulation (Sun et al., 2023) (spandrel)",
             {"dim": 36, "n_blocks": 8}),
    ArchSpec("plksr", "PLKSR", "upscaling_factor", None,
             None, "PLKSR, partial large kernel CNN (Lee et al., 2024) (spandrel)"),
    ArchSpec("dctlsa", "DCTLSA", "upscale", "in_nc",
             "out_nc", "DCTLSA, lightweight local/global attention (Zeng et al., 2023) (spandrel)"),
    ArchSpec("ditn", "DITN", "upscale",
             "inp_channels", None, "DITN, deployment-friendly transformer (Liu et al., 2023) "
             "(spandrel)"),
    ArchSpec("swiftsrgan", "SwiftSRGAN", "upscale_factor", "in_channels", None,
             "SwiftSRGAN generator, depthwise-separable SRGAN (Krishnan et al., 2021) (spandrel)"),
    ArchSpec("seemore", "SeemoRe", "scale",
             "in_chans", None, "SeemoRe, mixture of low-rank experts (Zamfir et al., 2024) "
             "(spandrel)"),
    ArchSpec("mosr", "MoSR", "upscale", "in_ch", "out_ch",
             "MoSR, MambaOut-based SR (spandrel)"),
    ArchSpec("moesr", "MoESR", "scale", "in_ch", "out_ch",
             "MoESR, mixture-of-experts SR (spandrel)"),
    ArchSpec("fdat", "FDAT", "scale", "num_in_ch", "num_out_ch",
             "FDAT, fast dual aggregation transformer (spandrel)"),
    ArchSpec("rcan", "RCAN", "scale", "n_colors", None,
             "RCAN, residual channel attention network (Zhang et al., 2018) (spandrel)"),
)

BY_NAME: dict[str, ArchSpec] = {s.name: s for s in SPECS}
BY_ARCH_ID: dict[str, ArchSpec] = {s.arch_id: s for s in SPECS}

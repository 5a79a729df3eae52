"""Names this plugin registers, kept free of torch so that listing stays fast."""

from __future__ import annotations

#: registry name -> (smp class name, description)
ARCHITECTURES: dict[str, tuple[str, str]] = {
    "smp_unet": ("Unet", "smp's U-Net (Ronneberger et al., 2015)"),
    "unetplusplus": ("UnetPlusPlus", "UNet++ (Zhou et al., 2018): nested dense skip paths"),
    "manet": ("MAnet", "MA-Net (Fan et al., 2020): position and multi-scale attention"),
    "linknet": ("Linknet", "LinkNet (Chaurasia and Culurciello, 2017): additive skips"),
    "fpn": ("FPN", "Feature Pyramid Network decoder (Kirillov et al., 2019)"),
    "pspnet": ("PSPNet", "Pyramid Scene Parsing Network (Zhao et al., 2017)"),
    "deeplabv3": ("DeepLabV3", "DeepLabV3 (Chen et al., 2017): atrous spatial pyramid pooling"),
    "deeplabv3plus": ("DeepLabV3Plus", "DeepLabV3+ (Chen et al., 2018): ASPP plus a decoder"),
    "pan": ("PAN", "Pyramid Attention Network (Li et al., 2018)"),
    "upernet": ("UPerNet", "UPerNet (Xiao et al., 2018): unified perceptual parsing"),
    "segformer": ("Segformer", "SegFormer's all-MLP decoder (Xie et al., 2021)"),
}

#: short name (what combined_loss takes) -> (smp class, registered name, description).
#: bce/ce register as soft_bce/soft_ce: smp's versions with label smoothing, and the
#: plain names stay free for other plugins' losses.
LOSSES: dict[str, tuple[str, str, str]] = {
    "dice": ("DiceLoss", "dice", "Soft Dice loss"),
    "jaccard": ("JaccardLoss", "jaccard", "Soft Jaccard (IoU) loss"),
    "focal": ("FocalLoss", "focal", "Focal loss (Lin et al., 2017)"),
    "lovasz": ("LovaszLoss", "lovasz", "Lovasz-softmax / hinge loss (Berman et al., 2018)"),
    "tversky": ("TverskyLoss", "tversky", "Tversky loss (Salehi et al., 2017)"),
    "bce": ("SoftBCEWithLogitsLoss", "soft_bce", "Binary cross-entropy on logits"),
    "ce": ("SoftCrossEntropyLoss", "soft_ce", "Softmax cross-entropy"),
}

"""Training deblurring networks with the reblurring loss: "Clean Images are Hard to Reblur" (Nah et al., ICLR 2022).

* :mod:`reblur.models`: deblurring networks M_D (U-Net, SRN, DHN) and the reblurring module M_R;
* :mod:`reblur.losses`: L_Blur, L_Sharp, the reblurring loss and the baselines' losses;
* :mod:`reblur.module`: :class:`~reblur.module.ReblurTraining`, the LightningModule alternating M_R and M_D steps;
* :mod:`reblur.data`: GOPRO, REDS and synthetic blurry/sharp pairs as LightningDataModules;
* :mod:`reblur.metrics`: PSNR, SSIM, LPIPS per image;
* :mod:`reblur.cli`: the ``reblur`` command (LightningCLI).
"""

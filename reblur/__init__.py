"""Training deblurring networks with the reblurring loss: "Clean Images are Hard to Reblur" (Nah et al., ICLR 2022).

* :mod:`reblur.networks`: deblurring networks M_D (U-Net, SRN, DHN) and the reblurring module M_R;
* :mod:`reblur.losses`: L_Blur, L_Sharp, the reblurring loss and the baselines' losses;
* :mod:`reblur.lightning_module`: :class:`~reblur.lightning_module.ReblurTraining`, the LightningModule that
  alternates M_R and M_D steps; :mod:`reblur.options`: its option groups;
* :mod:`reblur.data`: GOPRO, REDS and synthetic blurry/sharp pairs as LightningDataModules;
* :mod:`reblur.metrics`: PSNR, SSIM, LPIPS, NIQE per image;
* :mod:`reblur.adaptation`: test-time adaptation with the self-reblurring loss;
* :mod:`reblur.cli`: the ``reblur`` command (LightningCLI).
"""

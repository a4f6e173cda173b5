"""The 0.x (mmcv 1.x era) optimizer semantics as a runtime: constructors, hooks, trainer and GAN rules."""

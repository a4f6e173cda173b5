"""migrate-optim: migrate OpenMMLab 0.x optimizer configs to MMEngine 1.x and verify the result."""

__version__ = "0.1.0"

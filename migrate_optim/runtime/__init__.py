"""Our own implementation of the MMEngine optimizer-wrapper API (needs torch)."""

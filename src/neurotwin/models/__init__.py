"""Deep-network twins: pure nn.Modules and their registry (no training code)."""

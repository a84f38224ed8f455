"""The inverse problem: from a current-clamp voltage trace to a model cell's conductances."""

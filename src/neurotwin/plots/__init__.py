"""Pure plotting functions: ``plot_x(data, *, ax=None) -> Axes``; figures are composed from them."""

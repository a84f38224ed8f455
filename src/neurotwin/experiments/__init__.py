"""Studies that compose simulation, data, models and evaluation."""

"""testplans package."""

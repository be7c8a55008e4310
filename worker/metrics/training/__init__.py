"""Training of the detectors' heads (`protect train HEAD`): offline only, never imported by the
scorers at run time. Needs the `train` extra (scikit-learn)."""

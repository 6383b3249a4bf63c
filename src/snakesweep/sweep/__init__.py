"""The deciding: the sweep file (spec), W&B's engine (the only importer of `sweeps`), the
controller's pure rules (decide), registration, and the controller that applies them to the
record."""

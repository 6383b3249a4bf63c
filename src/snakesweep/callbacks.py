"""The one callback every objective's run calls: `on_epoch(epoch, metrics) -> stop`.

The agent hands it to each run (the ConvNet's, or the user's program or function). A run calls
it after each epoch (for the user's code: each logged value of the sweep metric) with that
epoch's metrics; it reports them to the controller and returns True when the sweep's early
termination says the run should stop there.
"""

from collections.abc import Callable

OnEpoch = Callable[[int, dict], bool]

"""What a sweep needs to know of the built-in ConvNet objective, without importing torch: the
metrics it logs, and the metric its runs are ranked by when a sweep file names none. The
parameters a run takes are the run schema's (`run_config.known_parameters`)."""

EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy")  # logged every epoch: hyperband can use them
FINAL_METRICS = ("test_loss", "test_accuracy")  # logged once, after the last epoch
METRICS = EPOCH_METRICS + FINAL_METRICS
DEFAULT_RANKING = {"name": "val_accuracy", "goal": "maximize"}


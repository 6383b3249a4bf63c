"""Running the user's own program or function as W&B's agent would: its argv and environment
(command), the fork server of a function's runs (function), process groups (process), following a
run and its wandb log (watch, wandb_log, wandb_records), judging how it ended (outcome), and one
run end to end (runner)."""

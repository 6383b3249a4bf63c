"""The agent process: the loop that claims, runs and reports (loop), one workflow job's wiring
(job), the device it takes (devices), and the loop under the W&B server (wandb_agent)."""

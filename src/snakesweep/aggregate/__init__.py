"""The aggregate stage: leaderboard, best model (re-verified), plots and a model card."""

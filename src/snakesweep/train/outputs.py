"""The files a run writes into its folder, named once.

Kept free of torch so that readers of a run's files (the leaderboard, the best model's
publication) do not pay seconds to import it.
"""

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"  # written last: its presence means the run is over
ONNX_FILE = "model.onnx"

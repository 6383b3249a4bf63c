"""The data stage: fetch MNIST (download or bundled sample), then split it reproducibly."""

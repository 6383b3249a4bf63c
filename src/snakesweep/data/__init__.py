"""The data stage: fetch MNIST (a local copy, the download or the bundled sample), then split
it reproducibly."""

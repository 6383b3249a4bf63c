"""The objectives a sweep runs: the built-in ConvNet, or the user's own program or function."""

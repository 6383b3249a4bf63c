"""The sweep: its spec (sweep.yaml), the local controller's decisions and store, and the agent."""

"""The record of a sweep: the append-only event log on disk (store), fair turns at its lock,
and what its events mean (state). Everything else reads or writes a sweep through here; this
package knows nothing of how configs are decided, trained or aggregated."""

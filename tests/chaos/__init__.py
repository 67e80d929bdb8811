"""The chaos suite (docs/reliability.md): faults made real against servers of its own, ground
truth counted outside the monitored process."""

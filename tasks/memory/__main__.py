"""``python -m tasks.memory [overrides]``: store/recall with adaptive spiking neurons (conf/memory.yaml)."""

from tasks.common.runner import main_for

if __name__ == "__main__":
    main_for("memory")()

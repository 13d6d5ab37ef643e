"""Store/recall memory task with adaptive spiking neurons: ``python -m tasks.memory``."""

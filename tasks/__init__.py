"""Experiment tasks, one package per task."""

"""MNIST classification task."""

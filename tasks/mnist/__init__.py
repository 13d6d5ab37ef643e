"""MNIST with a convolutional spiking network: ``python -m tasks.mnist``."""

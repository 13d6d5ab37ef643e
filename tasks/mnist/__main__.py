"""``python -m tasks.mnist [overrides]``: train and test the MNIST SNN (conf/mnist.yaml)."""

from tasks.common.runner import main_for

if __name__ == "__main__":
    main_for("mnist")()

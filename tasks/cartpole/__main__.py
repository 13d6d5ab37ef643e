"""``python -m tasks.cartpole [overrides]``: train (or, ``eval_only=true ckpt_path=...``,
evaluate) a spiking CartPole policy (conf/cartpole.yaml)."""

from tasks.common.runner import main_for

if __name__ == "__main__":
    main_for("cartpole")()

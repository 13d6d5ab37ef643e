"""CartPole-v1 with spiking policies trained by policy gradients: ``python -m tasks.cartpole``.

``env=cartpole`` (default) observes all four state variables; ``env=cartpole_masked`` only
the cart position and the pole angle, which needs a recurrent policy (``net.recurrent``,
on by default there) whose state carries over between the steps of an episode."""

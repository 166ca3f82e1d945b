"""Built-in backends, registered through the ``register_backends`` hook."""

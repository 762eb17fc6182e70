"""CDK constructs of a Switchyard regional stack, one module per capability (see stack.py)."""

"""The embedded local stack: moto-emulated AWS, the real handlers, and Lambda-shaped event plumbing.

Local tooling only; it is not shipped in the Lambda layer.
"""

"""The synthetic delivery bundled with the repository and its documented true effects.
"""

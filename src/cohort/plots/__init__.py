"""Report figures, drawn from released tables only.
"""

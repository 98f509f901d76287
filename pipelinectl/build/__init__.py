"""The image of each pipeline: its inputs, content digest, plan, and building or reusing it."""

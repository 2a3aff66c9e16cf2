"""Evaluation: tasks and their data, output validation, generation, the resumable scoring
loop, the results document and multi-process scoring."""

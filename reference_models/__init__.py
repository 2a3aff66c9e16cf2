"""Reference models bundled with hxbench (trained by the project's own scripts)."""

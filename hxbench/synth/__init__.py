"""hx-synth: the offline benchmark and training-set generator (see ``build``)."""

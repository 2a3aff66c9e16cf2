"""Input/output: decoding and writing media, manifests, speech synthesis, audio features,
and converters for public datasets. Nothing here knows about metrics or tasks."""

"""Running the archive stages on a Ray cluster (`--engine ray`)."""

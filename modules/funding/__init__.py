"""funding: a premium sampled every block from the book against the oracle, an hourly rate,
settled lazily into each position through a cumulative index per market."""

"""margin: positions, open-order exposure, the initial-margin check and the clearing of fills."""

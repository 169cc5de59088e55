"""Records on their way in: decoding and validating prediction and label records, and the bounded windows they fill."""

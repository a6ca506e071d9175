"""Sample data and records: the sample file, the layout the algorithms read, AMCT record files."""

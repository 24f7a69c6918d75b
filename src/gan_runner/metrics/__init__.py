"""Sample-quality metrics. Each module is a set of plain functions of samples and data."""

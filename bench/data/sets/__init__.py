"""One module per dataset, each defining one ``Dataset`` subclass; found by scanning."""

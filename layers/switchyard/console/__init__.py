"""`switchyard console`: a local web page over one region's data, with the operator's own credentials."""

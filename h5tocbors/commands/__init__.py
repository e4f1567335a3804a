"""One module per CLI command; `h5tocbors.cli` assembles them into the Typer app."""

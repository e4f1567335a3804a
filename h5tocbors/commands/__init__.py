"""The command line: one module per command, `cli` assembles them into the Typer app;
`reporting` turns errors into one line and exit codes, `progress` draws the bar.
"""

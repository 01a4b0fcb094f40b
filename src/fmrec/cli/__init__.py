"""The ``fmrec`` command line: one module per subcommand."""

"""``edgewise bench`` and ``edgewise report`` subcommands."""

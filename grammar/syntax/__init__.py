"""The config language's syntax: scanner, LALR parser with recovery, tree, literals."""

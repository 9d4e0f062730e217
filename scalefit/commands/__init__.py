"""One module per CLI command. Each defines one typer command function and imports the library lazily
(inside the function), so that ``scalefit --help`` loads neither torch, matplotlib, scipy nor pandas."""

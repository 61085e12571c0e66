"""The command line: Typer commands that parse options, call one use case each and print
its answer (``commands``), usage errors in ctmaint's own words (``usage``) and the tables
and JSON records shown (``listing``, ``table``).

The only package that imports typer or writes to the terminal; it may import every other.
"""

"""Pure renderers: windows and notices in, text or bytes out. No I/O, no clock."""

"""ctmaint: maintenance windows as calendars, feeds, status posts and email notices."""

__version__ = "0.1.0"

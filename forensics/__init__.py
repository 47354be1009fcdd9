"""forensics: access-log forensics for personal-information disputes."""

__version__ = "0.1.0"

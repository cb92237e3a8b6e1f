"""publisher: publish a team's social-media posts from a text file, on time, never twice."""

__version__ = "0.1.0"

"""The engine: turns the applied plan into posts that go out on time."""

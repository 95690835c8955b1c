"""Back to the scene (issue 10): ask the log by time and symbol.

The core of `claire scene`, `claire explain --at` and the timeline HTTP endpoints: each
function takes an EventStore and returns a document; the CLI renders it, the API serves it.
No FastAPI or Typer here.
"""

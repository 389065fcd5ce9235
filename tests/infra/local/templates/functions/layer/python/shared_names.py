"""A module shipped in a Lambda layer (on the path as /opt/python is on Lambda)."""


def display_name(query: dict[str, str] | None) -> str:
    return (query or {}).get("name", "anonymous").strip().title()

"""How a catalogue model is named where people read it (pure, no Django)."""


def model_name(maker: str, name: str) -> str:
    """Maker and name, the maker said once: catalogue names often carry it already
    ("NVIDIA L40S")."""
    if name.lower().startswith(maker.lower()):
        return name
    return f"{maker} {name}".strip()

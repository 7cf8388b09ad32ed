"""The living green layer: species library, growth, phenology, plant meshes, services."""

__all__: list[str] = []

"""PrefabTrace application: models, lifecycle, services, API, CLI."""

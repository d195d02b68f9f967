"""tierbot: commands, adapters, scheduler, settings, CLI and the composition root."""

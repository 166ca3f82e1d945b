"""Prompt formats and the renderer that splices user text into them as token ids."""

"""Tasks: prompt in, typed result out. Tasks never import a backend."""

"""The engine contract: a loaded model on a backend that generates and scores token ids."""

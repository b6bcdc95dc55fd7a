"""French NLU helpers and custom Rasa components (tokenizer, date extractor)."""

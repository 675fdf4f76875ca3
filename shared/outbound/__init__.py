"""The send path's parts: SMS ports and SNS adapters, quiet hours, frequency caps, pacing."""
